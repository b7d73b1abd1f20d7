// The trivial reference every engine is checked against: a dictionary, sorted on demand.

import KVCore

struct ReferenceModel {
    private(set) var records: [[UInt8]: [UInt8]] = [:]
    let semantics: EngineSemantics

    init(semantics: EngineSemantics) { self.semantics = semantics }

    func get(_ key: [UInt8]) -> [UInt8]? { records[key] }

    mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        if semantics == .storing { records[key] = value }
    }

    mutating func delete(_ key: [UInt8]) -> Bool {
        records.removeValue(forKey: key) != nil
    }

    mutating func apply(_ batch: WriteBatch) {
        batch.forEach { op in
            switch op {
            case let .put(key, value): put(Array(key), Array(value))
            case let .delete(key): _ = delete(Array(key))
            }
        }
    }

    /// Up to `limit` records with keys >= `start`, in unsigned byte order.
    func scan(from start: [UInt8], limit: Int) -> [KeyValuePair] {
        records.keys
            .filter { !$0.lexicographicallyPrecedes(start) }
            .sorted { $0.lexicographicallyPrecedes($1) }
            .prefix(limit)
            .map { KeyValuePair(key: $0, value: records[$0]!) }
    }

    var count: Int { records.count }
}
