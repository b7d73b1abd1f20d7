// Recording a run's operations cheaply: one recorder per client thread, merged at the end.

/// Records the operations of one client thread (one process of the history).
///
/// Not thread-safe, by design: each driver thread owns one, so recording takes no lock.
/// Keys go into one growing byte buffer and values are 64-bit digests, so an operation costs
/// a few stores and no allocation beyond amortised buffer growth.
public final class HistoryRecorder: @unchecked Sendable {
    /// What an operation did, as the history records it.
    public enum Function: UInt8, Sendable {
        case read, write, delete
        var name: String {
            switch self {
            case .read: "read"
            case .write: "write"
            case .delete: "delete"
            }
        }
    }

    /// How an operation ended.
    public enum Outcome: UInt8, Sendable {
        case ok, fail, info
    }

    struct Entry {
        var invoked: UInt64
        var completed: UInt64
        var digest: UInt64
        var keyStart: UInt32
        var keyLength: UInt32
        var function: Function
        var outcome: Outcome
        var hasValue: Bool
    }

    /// The process id of this thread's first events.
    public let process: Int
    /// What an `info` outcome adds to the thread's process id for its later operations (Jepsen
    /// retires a process whose operation is indeterminate: new id = old + threads); 0 keeps
    /// one id for the whole thread.
    public let processStride: Int
    var entries: [Entry] = []
    var keyBytes: [UInt8] = []

    /// - Parameters:
    ///   - process: the id of the thread's first process.
    ///   - processStride: added to the id after every `info` (the number of threads); 0 = never retire.
    public init(process: Int, processStride: Int = 0, expectedOperations: Int = 1024) {
        self.process = process
        self.processStride = processStride
        entries.reserveCapacity(expectedOperations)
        keyBytes.reserveCapacity(expectedOperations * 24)
    }

    /// Operations recorded so far.
    public var count: Int { entries.count }

    /// The highest process id this thread's events use (its first id, plus a stride per `info`).
    public var highestProcess: Int {
        guard processStride > 0 else { return process }
        return process + processStride * entries.reduce(0) { $0 + ($1.outcome == .info ? 1 : 0) }
    }

    /// Each entry's process id: the first id, plus the stride for every `info` before it.
    func entryProcesses() -> [Int] {
        var current = process
        var result: [Int] = []
        result.reserveCapacity(entries.count)
        for e in entries {
            result.append(current)
            if e.outcome == .info { current += processStride }
        }
        return result
    }

    /// Records one operation.
    /// - Parameters:
    ///   - digest: the value written, or read; nil for a read of a missing key and for a delete.
    ///   - invoked: the clock reading just before the operation started.
    ///   - completed: the clock reading just after it returned.
    @inlinable
    public func record(_ function: Function, key: UnsafeRawBufferPointer, digest: UInt64?, outcome: Outcome,
                       invoked: UInt64, completed: UInt64) {
        append(function, key: key, digest: digest, outcome: outcome, invoked: invoked, completed: completed)
    }

    @usableFromInline
    func append(_ function: Function, key: UnsafeRawBufferPointer, digest: UInt64?, outcome: Outcome,
                invoked: UInt64, completed: UInt64) {
        let start = UInt32(truncatingIfNeeded: keyBytes.count)
        keyBytes.append(contentsOf: key)
        entries.append(Entry(invoked: invoked, completed: completed, digest: digest ?? 0, keyStart: start,
                             keyLength: UInt32(truncatingIfNeeded: key.count), function: function, outcome: outcome,
                             hasValue: digest != nil))
    }

    /// Merges the recorders of a run into one history, events sorted by time (an invocation
    /// before a completion at the same instant, so such operations count as concurrent).
    /// Values are digests rendered as 16 hex digits.
    public static func history(merging recorders: [HistoryRecorder]) -> History {
        struct Stamp { var time: UInt64; var isCompletion: Bool; var recorder: Int; var entry: Int }
        var stamps: [Stamp] = []
        stamps.reserveCapacity(recorders.reduce(0) { $0 + $1.entries.count * 2 })
        for (r, recorder) in recorders.enumerated() {
            for (i, e) in recorder.entries.enumerated() {
                stamps.append(Stamp(time: e.invoked, isCompletion: false, recorder: r, entry: i))
                stamps.append(Stamp(time: max(e.completed, e.invoked), isCompletion: true, recorder: r, entry: i))
            }
        }
        stamps.sort { a, b in
            if a.time != b.time { return a.time < b.time }
            if a.isCompletion != b.isCompletion { return !a.isCompletion }
            return (a.recorder, a.entry) < (b.recorder, b.entry)
        }
        var keyCache: [[String?]] = recorders.map { [String?](repeating: nil, count: $0.entries.count) }
        let processes = recorders.map { $0.entryProcesses() }
        var events: [Event] = []
        events.reserveCapacity(stamps.count)
        for stamp in stamps {
            let recorder = recorders[stamp.recorder]
            let e = recorder.entries[stamp.entry]
            let key: String
            if let cached = keyCache[stamp.recorder][stamp.entry] {
                key = cached
            } else {
                let start = Int(e.keyStart)
                key = String(decoding: recorder.keyBytes[start..<start + Int(e.keyLength)], as: UTF8.self)
                keyCache[stamp.recorder][stamp.entry] = key
            }
            let digestValue: Value = e.hasValue ? .string(hex(e.digest)) : .null
            let kind: Event.Kind
            let value: Value
            if stamp.isCompletion {
                kind = switch e.outcome { case .ok: .ok; case .fail: .fail; case .info: .info }
                value = digestValue
            } else {
                kind = .invoke
                value = e.function == .read ? .null : digestValue
            }
            events.append(Event(kind, process: processes[stamp.recorder][stamp.entry], function: e.function.name, key: .string(key), value: value,
                                time: Int64(truncatingIfNeeded: stamp.time)))
        }
        return History(events: events)
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// A short, stable digest of a value's bytes (64 bits; the same on every run and machine),
/// so a history can say which write a read saw without storing whole records.
public enum ValueDigest {
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = mix(h ^ word)
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        return mix(h ^ tail ^ 0xFF51_AFD7_ED55_8CCD)
    }

    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x &* 0xBF58_476D_1CE4_E5B9
        z ^= z >> 31
        z = z &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 29)
    }
}
