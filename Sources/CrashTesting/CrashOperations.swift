// The crash test's operation stream: a pure function of (seed, operation number), so the writer and the checker agree without talking.

import KVCore

/// One write of the crash test: a put, a delete, or an atomic batch of several, synced or not.
///
/// Operation `n` of a run with seed `s` is always the same (`CrashOperation.make(number:seed:keyCount:)`),
/// so the checker knows what each acknowledged operation did from its number alone. Keys come
/// from a small key space (`ck-000000` ...), so puts overwrite and deletes hit live keys. A
/// put's value names the operation and entry that wrote it (`op=<n>.<i> key=<k> `) followed by
/// filler whose bytes and length also follow from (n, i): the checker can tell which write a
/// recovered value came from, and whether its bytes are intact.
public struct CrashOperation: Sendable, Hashable {
    /// One change of an operation.
    public enum Entry: Sendable, Hashable {
        case put(key: Int)
        case delete(key: Int)
        public var key: Int {
            switch self {
            case .put(let key), .delete(let key): key
            }
        }
    }

    /// The operation's number (its position in the run's stream).
    public let number: Int
    /// The changes, applied atomically in order.
    public let entries: [Entry]
    /// True when written as a `WriteBatch` (else a single put or delete).
    public let isBatch: Bool
    /// True when written with `sync: true`.
    public let synced: Bool

    /// Operation `number` of the stream seeded with `seed` over `keyCount` keys: 70% puts, 15%
    /// deletes, 15% batches of 2–8 changes; 5% of all synced.
    public static func make(number: Int, seed: UInt64, keyCount: Int) -> CrashOperation {
        var rng = SeededRandom(seed: seed ^ (UInt64(truncatingIfNeeded: number) &* 0x9E37_79B9_7F4A_7C15))
        let roll = rng.next(below: 100)
        let synced = rng.next(below: 100) < 5
        let keys = UInt64(max(1, keyCount))
        func entry(_ rng: inout SeededRandom) -> Entry {
            let key = Int(rng.next(below: keys))
            return rng.next(below: 100) < 75 ? .put(key: key) : .delete(key: key)
        }
        if roll < 70 { return CrashOperation(number: number, entries: [.put(key: Int(rng.next(below: keys)))], isBatch: false, synced: synced) }
        if roll < 85 { return CrashOperation(number: number, entries: [.delete(key: Int(rng.next(below: keys)))], isBatch: false, synced: synced) }
        let count = 2 + Int(rng.next(below: 7))
        return CrashOperation(number: number, entries: (0..<count).map { _ in entry(&rng) }, isBatch: true, synced: synced)
    }

    /// The engine key of key number `key`.
    public static func key(_ key: Int) -> [UInt8] {
        let digits = String(key)
        return Array(("ck-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits).utf8)
    }

    /// The key number of an engine key, or nil if it is not one of the test's keys.
    public static func keyNumber(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count == 9, bytes[0] == UInt8(ascii: "c"), bytes[1] == UInt8(ascii: "k"), bytes[2] == UInt8(ascii: "-") else { return nil }
        var n = 0
        for i in 3..<9 {
            let d = bytes[i] &- 48
            guard d < 10 else { return nil }
            n = n * 10 + Int(d)
        }
        return n
    }

    /// The value put by entry `index` of operation `number` under key number `key`: mostly
    /// 16–200 bytes, one in twenty 4,000–9,000 (more than a page, to cross page and block edges).
    public static func value(operation number: Int, index: Int, key: Int) -> [UInt8] {
        var rng = SeededRandom(seed: UInt64(truncatingIfNeeded: number) &* 0x100_0000_01B3 &+ UInt64(index))
        let header = Array("op=\(number).\(index) key=\(key) ".utf8)
        let length = rng.next(below: 20) == 0 ? 4000 + Int(rng.next(below: 5001)) : 16 + Int(rng.next(below: 185))
        var out = header
        out.reserveCapacity(max(length, header.count))
        var i = 0
        while out.count < length {
            out.append(UInt8(truncatingIfNeeded: 97 &+ (number &+ i &* 7) % 26))
            i += 1
        }
        return out
    }

    /// Which (operation, entry) a recovered value names, if it is intact: its header parses and
    /// its bytes equal what that entry put under `key`.
    public static func writer(of value: UnsafeRawBufferPointer, key: Int) -> ValueTag? {
        guard value.count > 4, value[0] == UInt8(ascii: "o"), value[1] == UInt8(ascii: "p"), value[2] == UInt8(ascii: "=") else { return nil }
        var i = 3, number = 0, index = 0
        while i < value.count, value[i] != UInt8(ascii: ".") {
            let d = value[i] &- 48
            guard d < 10, number < Int.max / 10 else { return nil }
            number = number * 10 + Int(d); i += 1
        }
        i += 1
        while i < value.count, value[i] != UInt8(ascii: " ") {
            let d = value[i] &- 48
            guard d < 10, index < 1000 else { return nil }
            index = index * 10 + Int(d); i += 1
        }
        let expected = CrashOperation.value(operation: number, index: index, key: key)
        guard expected.count == value.count, expected.elementsEqual(value) else { return nil }
        return ValueTag(operation: number, index: index)
    }

    /// Applies the operation to `engine`.
    public func apply(to engine: any KeyValueEngine) throws(EngineError) {
        let options = WriteOptions(sync: synced)
        if isBatch {
            var batch = WriteBatch()
            for (i, entry) in entries.enumerated() {
                switch entry {
                case .put(let key): batch.put(Self.key(key), Self.value(operation: number, index: i, key: key))
                case .delete(let key): batch.delete(Self.key(key))
                }
            }
            try engine.write(batch, options: options)
            return
        }
        switch entries[0] {
        case .put(let key): try engine.put(Self.key(key), Self.value(operation: number, index: 0, key: key), options: options)
        case .delete(let key): try engine.delete(Self.key(key), options: options)
        }
    }
}

/// The write a stored value came from: entry `index` of operation `operation`.
public struct ValueTag: Sendable, Hashable, CustomStringConvertible {
    public var operation: Int
    public var index: Int
    public init(operation: Int, index: Int) { self.operation = operation; self.index = index }
    public var description: String { "op \(operation).\(index)" }
}
