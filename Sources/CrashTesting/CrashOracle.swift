// The expected-values oracle: which recovered states are legal after a kill, given the acknowledged operations and the durability policy.

import KVCore

/// The state the writes so far must have left: key number -> the write whose value it holds
/// (absent keys are not in the map).
public struct ExpectedState: Sendable, Hashable {
    public private(set) var values: [Int: ValueTag] = [:]

    public init(values: [Int: ValueTag] = [:]) { self.values = values }

    /// Applies `operation`'s entries in order.
    public mutating func apply(_ operation: CrashOperation) {
        for (i, entry) in operation.entries.enumerated() {
            switch entry {
            case .put(let key): values[key] = ValueTag(operation: operation.number, index: i)
            case .delete(let key): values[key] = nil
            }
        }
    }
}

/// What a reopened engine holds, read back by a full scan.
public struct RecoveredState: Sendable {
    /// Key number -> the write its (intact) value came from.
    public var values: [Int: ValueTag] = [:]
    /// Keys the test never writes, and values that are not intact: each is a failure.
    public var damage: [String] = []

    public init() {}

    /// Scans `engine` in full.
    public static func read(from engine: any KeyValueEngine) throws(EngineError) -> RecoveredState {
        var state = RecoveredState()
        try engine.scan(from: UnsafeRawBufferPointer(start: nil, count: 0), limit: .max) { key, value in
            guard let number = CrashOperation.keyNumber(key) else {
                if state.damage.count < 10 { state.damage.append("unexpected key \(Array(key).debugText)") }
                return true
            }
            guard let tag = CrashOperation.writer(of: value, key: number) else {
                if state.damage.count < 10 { state.damage.append("key \(Array(key).debugText): damaged value \(Array(value.prefix(40)).debugText) (\(value.count) bytes)") }
                return true
            }
            state.values[number] = tag
            return true
        }
        return state
    }
}

/// The oracle's verdict on one recovery.
public enum OracleVerdict: Sendable, Hashable {
    /// The recovered state equals the expected state after the first `appliedCount` of the
    /// cycle's operations (the acknowledged ones, then the one in flight at the kill).
    case legal(appliedCount: Int, state: ExpectedState)
    /// No legal state matches; the message names the keys that differ.
    case illegal(String)
}

/// Checks recovered states against the operations of a crash cycle.
public enum CrashOracle {
    /// Which prefixes of a cycle's operations a recovery may show.
    ///
    /// - `always`/`periodic`: a process kill loses nothing acknowledged, so every acknowledged
    ///   operation is there; the one in flight may or may not be (it is atomic).
    /// - `buffered`: any prefix that keeps every acknowledged synced operation (a sync makes
    ///   everything before it durable), up to the one in flight.
    public static func legalPrefixes(policy: DurabilityPolicy, operations: [CrashOperation], acknowledged: Int) -> ClosedRange<Int> {
        let upper = min(acknowledged + 1, operations.count)
        guard !policy.survivesProcessCrash else { return min(acknowledged, upper)...upper }
        var lower = 0
        for i in 0..<min(acknowledged, operations.count) where operations[i].synced { lower = i + 1 }
        return lower...upper
    }

    /// Compares `recovered` with `start` advanced by each legal prefix of `operations`.
    /// - Parameters:
    ///   - start: the state before the cycle's first operation.
    ///   - operations: the cycle's acknowledged operations, then the one in flight.
    ///   - legal: how many of them may have been applied (`legalPrefixes`).
    public static func check(start: ExpectedState, operations: [CrashOperation], legal: ClosedRange<Int>, recovered: RecoveredState) -> OracleVerdict {
        if !recovered.damage.isEmpty { return .illegal("damaged data: " + recovered.damage.joined(separator: "; ")) }
        var model = start
        // Keys where the model and the recovered state differ, kept up to date as operations apply.
        var differing = Set<Int>()
        for key in Set(model.values.keys).union(recovered.values.keys) where model.values[key] != recovered.values[key] {
            differing.insert(key)
        }
        func advance(_ operation: CrashOperation) {
            model.apply(operation)
            for entry in operation.entries {
                if model.values[entry.key] != recovered.values[entry.key] { differing.insert(entry.key) } else { differing.remove(entry.key) }
            }
        }
        for i in 0..<legal.lowerBound { advance(operations[i]) }
        var closest = (count: legal.lowerBound, differing: differing, model: model)
        for applied in legal {
            if differing.isEmpty { return .legal(appliedCount: applied, state: model) }
            if differing.count < closest.differing.count { closest = (applied, differing, model) }
            if applied < legal.upperBound { advance(operations[applied]) }
        }
        let first = operations.first?.number ?? 0
        var lines: [String] = []
        for key in closest.differing.sorted().prefix(5) {
            let expected = closest.model.values[key].map { "\($0)" } ?? "absent"
            let found = recovered.values[key].map { "\($0)" } ?? "absent"
            lines.append("key \(CrashOperation.key(key).debugText): expected \(expected), found \(found)")
        }
        let range = operations.isEmpty ? "none" : "\(first)...\(first + operations.count - 1)"
        return .illegal("no legal state matches (operations \(range); \(legal.lowerBound)...\(legal.upperBound) of them may apply); "
                        + "closest after \(closest.count): \(closest.differing.count) keys differ: " + lines.joined(separator: "; "))
    }
}
