// Runs db_bench-style phases against any engine and times them.

import KVCore
import KVMemory

/// Memory held by the engine under test after a phase, measured from just before the engine
/// was opened: the allocator's allocated bytes and the process's resident set.
public struct BenchMemoryResult: Sendable, Equatable {
    public var phase: BenchPhase
    /// Records live in the engine after the phase.
    public var records: Int
    public var allocatedBytesAdded: Int
    public var residentBytesAdded: Int
    public var rawBytesPerRecord: Int
    /// The allocator ("jemalloc-5.3.0-..." or "libc").
    public var allocator: String
    /// Resident set over allocated bytes for the whole process (Redis's mem_fragmentation_ratio).
    public var fragmentationRatio: Double

    public init(phase: BenchPhase, records: Int, allocatedBytesAdded: Int, residentBytesAdded: Int,
                rawBytesPerRecord: Int, allocator: String, fragmentationRatio: Double) {
        self.phase = phase
        self.records = records
        self.allocatedBytesAdded = allocatedBytesAdded
        self.residentBytesAdded = residentBytesAdded
        self.rawBytesPerRecord = rawBytesPerRecord
        self.allocator = allocator
        self.fragmentationRatio = fragmentationRatio
    }

    public var allocatedPerRecord: Double { records == 0 ? 0 : Double(allocatedBytesAdded) / Double(records) }
    public var residentPerRecord: Double { records == 0 ? 0 : Double(residentBytesAdded) / Double(records) }
    public var allocatedRatio: Double { rawBytesPerRecord == 0 ? 0 : allocatedPerRecord / Double(rawBytesPerRecord) }
    public var residentRatio: Double { rawBytesPerRecord == 0 ? 0 : residentPerRecord / Double(rawBytesPerRecord) }
}

/// The outcome of one phase.
public struct BenchPhaseResult: Sendable, Equatable {
    public var phase: BenchPhase
    public var operations: Int
    public var nanoseconds: UInt64
    /// Key + value bytes written (fill and overwrite phases).
    public var bytesWritten: Int
    /// readrandom: keys found. readseq: records visited. deleterandom: keys that existed.
    public var found: Int?
    /// Why the phase did not run (for example readseq on an unordered engine).
    public var skippedReason: String?
    /// The value size written by a fill or overwrite phase.
    public var valueSize: Int?
    /// Memory after the phase.
    public var memory: BenchMemoryResult?

    public init(phase: BenchPhase, operations: Int, nanoseconds: UInt64, bytesWritten: Int,
                found: Int? = nil, skippedReason: String? = nil, valueSize: Int? = nil, memory: BenchMemoryResult? = nil) {
        self.phase = phase
        self.operations = operations
        self.nanoseconds = nanoseconds
        self.bytesWritten = bytesWritten
        self.found = found
        self.skippedReason = skippedReason
        self.valueSize = valueSize
        self.memory = memory
    }

    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public var microsPerOp: Double { operations == 0 ? 0 : Double(nanoseconds) / 1000 / Double(operations) }
    public var opsPerSecond: Double { nanoseconds == 0 ? 0 : Double(operations) / seconds }
    public var megabytesPerSecond: Double { nanoseconds == 0 ? 0 : Double(bytesWritten) / 1_048_576 / seconds }
}

/// Runs the configured phases. `fillseq` opens a fresh engine through `openEngine` and closes
/// it after; the other phases share one engine, filled in random order by `fillrandom` (which
/// runs first, reported or not, whenever a later phase needs data).
public struct BenchRunner {
    public typealias EngineOpener = () throws(EngineError) -> any KeyValueEngine

    public let configuration: BenchConfiguration
    let openEngine: EngineOpener
    let clock: any MonotonicClock

    public init(configuration: BenchConfiguration, clock: any MonotonicClock = SystemMonotonicClock(),
                openEngine: @escaping EngineOpener) {
        self.configuration = configuration
        self.clock = clock
        self.openEngine = openEngine
    }

    /// The state of one engine under test: it, and memory as it was before it was opened.
    final class Subject {
        let engine: any KeyValueEngine
        let baseline: MemorySnapshot
        var records = 0
        init(engine: any KeyValueEngine, baseline: MemorySnapshot) {
            self.engine = engine
            self.baseline = baseline
        }
    }

    /// Runs every step in the configuration's order, reporting each result as it completes.
    @discardableResult
    public func run(onPhase: (BenchPhaseResult) -> Void = { _ in }) throws(BenchError) -> [BenchPhaseResult] {
        let config = configuration
        try config.validate()
        var keys = KeyFormatter(keySize: config.keySize)
        var rng = SeededRandom(seed: config.seed)
        var results: [BenchPhaseResult] = []
        var shared: Subject? = nil
        defer { try? shared?.engine.close() }

        func open(_ phase: BenchPhase) throws(BenchError) -> Subject {
            AllocatorStatistics.releaseFreeMemory()
            let baseline = AllocatorStatistics.snapshot()
            do { return Subject(engine: try openEngine(), baseline: baseline) } catch { throw .engine(phase: phase.rawValue, error) }
        }
        func measure(_ result: inout BenchPhaseResult, _ subject: Subject) {
            let now = AllocatorStatistics.snapshot()
            result.memory = BenchMemoryResult(
                phase: result.phase, records: subject.records,
                allocatedBytesAdded: now.allocated - subject.baseline.allocated,
                residentBytesAdded: now.resident - subject.baseline.resident,
                rawBytesPerRecord: config.keySize + config.valueSize, allocator: now.allocator,
                fragmentationRatio: now.fragmentationRatio)
        }
        func report(_ result: BenchPhaseResult) {
            results.append(result)
            onPhase(result)
        }
        func randomSubject() throws(BenchError) -> (Subject, BenchPhaseResult?) {
            if let shared { return (shared, nil) }
            // The key order is made before the baseline and kept until measured, as
            // kvbench_std does: its 8 bytes per record are the bench's, not the engine's (made
            // after the baseline and freed just before the measurement, its pages stayed
            // resident in the allocator and counted as the engine's).
            let order = permutation(config.num, &rng)
            let subject = try open(.fillrandom)
            shared = subject
            var result = try fill(subject, .fillrandom, order: order, valueSize: config.valueSize, keys: &keys)
            measure(&result, subject)
            withExtendedLifetime(order) {}
            return (subject, result)
        }

        for step in config.steps {
            switch step.phase {
            case .fillseq:
                let subject = try open(.fillseq)
                var result = try fill(subject, .fillseq, order: nil, valueSize: step.valueSize ?? config.valueSize, keys: &keys)
                measure(&result, subject)
                do { try subject.engine.close() } catch { throw .engine(phase: "fillseq", error) }
                report(result)
            case .fillrandom:
                let (_, fillResult) = try randomSubject()
                if let fillResult { report(fillResult) }
            case .overwrite, .readrandom, .readseq, .deleterandom:
                let (subject, fillResult) = try randomSubject()
                _ = fillResult  // the implicit fill is preparation: not reported
                var result: BenchPhaseResult
                switch step.phase {
                case .overwrite:
                    result = try fill(subject, .overwrite, order: permutation(config.num, &rng),
                                      valueSize: step.valueSize ?? config.valueSize, keys: &keys)
                case .readrandom:
                    result = try readRandom(subject.engine, &keys, &rng)
                case .readseq:
                    result = try readSequential(subject.engine)
                default:
                    result = try deleteRandom(subject, &keys, permutation(config.num, &rng))
                }
                measure(&result, subject)
                report(result)
            }
        }
        return results
    }

    private func fill(_ subject: Subject, _ phase: BenchPhase, order: [Int]?, valueSize: Int,
                      keys: inout KeyFormatter) throws(BenchError) -> BenchPhaseResult {
        let engine = subject.engine
        var value = ValueBuffer(size: valueSize)
        let n = configuration.num
        let start = clock.nanoseconds()
        do {
            for i in 0..<n {
                let k = order?[i] ?? i
                value.stamp(UInt64(i))
                try keys.withKey(k) { (key) throws(EngineError) in
                    try value.withBytes { (v) throws(EngineError) in try engine.put(key, v, options: .default) }
                }
            }
            // Inside the timed region: a persistent engine that defers its writes (the B+tree
            // commits pages in batches) pays for them in the phase that made them.
            try engine.flush()
        } catch { throw .engine(phase: phase.rawValue, error) }
        let elapsed = clock.nanoseconds() - start
        if engine.capabilities.contains(.storesData) { subject.records = n }
        return BenchPhaseResult(phase: phase, operations: n, nanoseconds: elapsed,
                                bytesWritten: n * (configuration.keySize + valueSize), valueSize: valueSize)
    }

    private func readRandom(_ engine: any KeyValueEngine, _ keys: inout KeyFormatter, _ rng: inout SeededRandom) throws(BenchError) -> BenchPhaseResult {
        let n = configuration.num
        var found = 0
        let start = clock.nanoseconds()
        do {
            for _ in 0..<n {
                let k = Int(rng.next(below: UInt64(n)))
                let size = try keys.withKey(k) { (key) throws(EngineError) in try engine.get(key) { $0.count } }
                if size != nil { found += 1 }
            }
        } catch { throw .engine(phase: "readrandom", error) }
        let elapsed = clock.nanoseconds() - start
        return BenchPhaseResult(phase: .readrandom, operations: n, nanoseconds: elapsed, bytesWritten: 0, found: found)
    }

    private func readSequential(_ engine: any KeyValueEngine) throws(BenchError) -> BenchPhaseResult {
        guard engine.capabilities.contains(.orderedScan) else {
            return BenchPhaseResult(phase: .readseq, operations: 0, nanoseconds: 0, bytesWritten: 0,
                                    skippedReason: "engine '\(engine.name)' has no ordered scan")
        }
        var visited = 0
        var bytes = 0
        let start = clock.nanoseconds()
        do {
            try engine.scan(from: UnsafeRawBufferPointer(start: nil, count: 0), limit: configuration.num) { k, v in
                visited += 1
                bytes &+= k.count &+ v.count
                return true
            }
        } catch { throw .engine(phase: "readseq", error) }
        let elapsed = clock.nanoseconds() - start
        return BenchPhaseResult(phase: .readseq, operations: visited, nanoseconds: elapsed, bytesWritten: 0, found: visited)
    }

    private func deleteRandom(_ subject: Subject, _ keys: inout KeyFormatter, _ order: [Int]) throws(BenchError) -> BenchPhaseResult {
        let engine = subject.engine
        var existed = 0
        let start = clock.nanoseconds()
        do {
            for k in order {
                if try keys.withKey(k, { (key) throws(EngineError) in try engine.delete(key, options: .default) }) { existed += 1 }
            }
            try engine.flush()
        } catch { throw .engine(phase: "deleterandom", error) }
        let elapsed = clock.nanoseconds() - start
        subject.records = 0
        return BenchPhaseResult(phase: .deleterandom, operations: order.count, nanoseconds: elapsed, bytesWritten: 0, found: existed)
    }

    /// Fisher–Yates over 0..<n: for i from n-1 down to 1, swap p[i] with p[rng.next(below: i+1)].
    /// The C++ reference program does exactly the same, so both touch keys in the same order.
    func permutation(_ n: Int, _ rng: inout SeededRandom) -> [Int] {
        var p = Array(0..<n)
        var i = n - 1
        while i > 0 {
            let j = Int(rng.next(below: UInt64(i + 1)))
            p.swapAt(i, j)
            i -= 1
        }
        return p
    }
}
