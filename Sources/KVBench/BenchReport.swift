// db_bench-style text lines for bench results.

/// Formats results the way LevelDB's db_bench prints them, so tools that parse db_bench output
/// (and `Benchmarks/reference/compare.sh`) read kvlab's too:
///
///     fillrandom   :       1.234 micros/op     810372 ops/sec;   89.6 MB/s
///     readrandom   :       0.456 micros/op    2192982 ops/sec; (1000000 of 1000000 found)
public enum BenchReport {
    /// The header line of a run.
    public static func header(engine: String, configuration c: BenchConfiguration) -> String {
        "kvlab bench: engine=\(engine) num=\(c.num) key-size=\(c.keySize) value-size=\(c.valueSize) seed=\(c.seed)"
    }

    /// One result line.
    public static func line(_ r: BenchPhaseResult, num: Int) -> String {
        let name = r.phase.rawValue.padding(to: 12)
        if let reason = r.skippedReason {
            return "\(name) : skipped (\(reason))"
        }
        var text = "\(name) : \(fixed(r.microsPerOp, 3).leftPadding(to: 11)) micros/op \(fixed(r.opsPerSecond, 0).leftPadding(to: 10)) ops/sec;"
        switch r.phase {
        case .fillseq, .fillrandom, .overwrite:
            text += " \(fixed(r.megabytesPerSecond, 1).leftPadding(to: 6)) MB/s"
        case .readrandom:
            text += " (\(r.found ?? 0) of \(num) found)"
        case .readseq:
            text += " (\(r.found ?? 0) records)"
        case .deleterandom:
            text += " (\(r.found ?? 0) of \(num) existed)"
        }
        return text
    }

    /// The memory line printed after each phase: what the engine holds, per live record.
    ///
    ///     memory       : allocated 131.2 B/record (1.13x raw 116 B), resident 140.0 B/record (1.21x), fragmentation 1.05 [jemalloc-5.3.0] after fillseq
    public static func memoryLine(_ m: BenchMemoryResult) -> String {
        let tail = "fragmentation \(fixed(m.fragmentationRatio, 2)) [\(m.allocator)] after \(m.phase.rawValue)"
        guard m.records > 0 else {
            return "memory       : allocated \(m.allocatedBytesAdded) B, resident \(m.residentBytesAdded) B with 0 records, \(tail)"
        }
        return "memory       : allocated \(fixed(m.allocatedPerRecord, 1)) B/record (\(fixed(m.allocatedRatio, 2))x raw \(m.rawBytesPerRecord) B), "
            + "resident \(fixed(m.residentPerRecord, 1)) B/record (\(fixed(m.residentRatio, 2))x), \(tail)"
    }

    /// `value` with exactly `decimals` digits after the point, rounded half away from zero.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let negative = value < 0
        let scaled = (abs(value) * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9.0e18 else { return "\(value)" }
        let units = UInt64(scaled)
        let whole = units / UInt64(scale)
        var text = (negative ? "-" : "") + String(whole)
        if decimals > 0 {
            let fraction = String(units % UInt64(scale))
            text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        }
        return text
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    func leftPadding(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// A machine-readable record of a bench run (`kvlab bench --json FILE`).
public struct BenchRunReport: Codable, Sendable, Equatable {
    public struct Phase: Codable, Sendable, Equatable {
        public var name: String
        public var operations: Int
        public var seconds: Double
        public var microsPerOp: Double
        public var opsPerSecond: Double
        public var megabytesPerSecond: Double?
        public var found: Int?
        public var skipped: String?
        public var valueSize: Int?
        public var memory: Memory?
    }

    public struct Memory: Codable, Sendable, Equatable {
        public var records: Int
        public var allocatedBytesAdded: Int
        public var residentBytesAdded: Int
        public var allocatedPerRecord: Double
        public var residentPerRecord: Double
        public var rawBytesPerRecord: Int
        public var fragmentationRatio: Double
        public var allocator: String
    }

    public var format = "kvlab-bench"
    public var version = 1
    public var engine: String
    public var options: [String: String]
    public var num: Int
    public var keySize: Int
    public var valueSize: Int
    public var seed: UInt64
    public var phases: [Phase]

    public init(engine: String, options: [String: String], configuration c: BenchConfiguration,
                results: [BenchPhaseResult]) {
        self.engine = engine
        self.options = options
        num = c.num
        keySize = c.keySize
        valueSize = c.valueSize
        seed = c.seed
        phases = results.map { r in
            Phase(name: r.phase.rawValue, operations: r.operations, seconds: r.seconds,
                  microsPerOp: r.microsPerOp, opsPerSecond: r.opsPerSecond,
                  megabytesPerSecond: r.bytesWritten > 0 ? r.megabytesPerSecond : nil,
                  found: r.found, skipped: r.skippedReason, valueSize: r.valueSize,
                  memory: r.memory.map {
                      Memory(records: $0.records, allocatedBytesAdded: $0.allocatedBytesAdded,
                             residentBytesAdded: $0.residentBytesAdded, allocatedPerRecord: $0.allocatedPerRecord,
                             residentPerRecord: $0.residentPerRecord, rawBytesPerRecord: $0.rawBytesPerRecord,
                             fragmentationRatio: $0.fragmentationRatio, allocator: $0.allocator)
                  })
        }
    }
}
