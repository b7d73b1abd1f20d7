// Runs db_bench-style phases against any engine and times them.

import KVCore

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

    public init(phase: BenchPhase, operations: Int, nanoseconds: UInt64, bytesWritten: Int,
                found: Int? = nil, skippedReason: String? = nil) {
        self.phase = phase
        self.operations = operations
        self.nanoseconds = nanoseconds
        self.bytesWritten = bytesWritten
        self.found = found
        self.skippedReason = skippedReason
    }

    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public var microsPerOp: Double { operations == 0 ? 0 : Double(nanoseconds) / 1000 / Double(operations) }
    public var opsPerSecond: Double { nanoseconds == 0 ? 0 : Double(operations) / seconds }
    public var megabytesPerSecond: Double { nanoseconds == 0 ? 0 : Double(bytesWritten) / 1_048_576 / seconds }
}

/// Resident memory added by the first fill of a run.
public struct BenchMemoryResult: Sendable, Equatable {
    public var phase: BenchPhase
    public var records: Int
    public var residentBytesAdded: Int
    public var rawBytesPerRecord: Int
    public var bytesPerRecord: Double { records == 0 ? 0 : Double(residentBytesAdded) / Double(records) }
    public var ratioToRaw: Double { rawBytesPerRecord == 0 ? 0 : bytesPerRecord / Double(rawBytesPerRecord) }
}

/// Runs the configured phases. Each fill phase opens a fresh engine through `openEngine`; the
/// phases after `fillrandom` reuse its engine. The engine of each fill is closed when the run
/// moves on.
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

    /// Runs every phase in the configuration's order, reporting each result as it completes.
    /// - Parameters:
    ///   - onPhase: called after each phase (for progress output).
    ///   - onMemory: called once, after the first fill phase, with the resident memory it added.
    /// - Returns: the results in order.
    @discardableResult
    public func run(onPhase: (BenchPhaseResult) -> Void = { _ in },
                    onMemory: (BenchMemoryResult) -> Void = { _ in }) throws(BenchError) -> [BenchPhaseResult] {
        let config = configuration
        try config.validate()
        var keys = KeyFormatter(keySize: config.keySize)
        var value = ValueBuffer(size: config.valueSize)
        var rng = SeededRandom(seed: config.seed)
        var results: [BenchPhaseResult] = []
        var memoryReported = false
        var pendingMemory: BenchMemoryResult? = nil
        var randomEngine: (any KeyValueEngine)? = nil
        defer { try? randomEngine?.close() }

        func report(_ result: BenchPhaseResult) {
            results.append(result)
            onPhase(result)
            if let memory = pendingMemory {
                pendingMemory = nil
                onMemory(memory)
            }
        }
        func open(_ phase: BenchPhase) throws(BenchError) -> any KeyValueEngine {
            do { return try openEngine() } catch { throw .engine(phase: phase.rawValue, error) }
        }
        func fill(_ engine: any KeyValueEngine, _ phase: BenchPhase, order: [Int]?) throws(BenchError) -> BenchPhaseResult {
            let before = memoryReported ? nil : ProcessMemory.residentBytes()
            let n = config.num
            let start = clock.nanoseconds()
            do {
                for i in 0..<n {
                    let k = order?[i] ?? i
                    value.stamp(UInt64(i))
                    try keys.withKey(k) { (key) throws(EngineError) in
                        try value.withBytes { (v) throws(EngineError) in try engine.put(key, v, options: .default) }
                    }
                }
            } catch { throw .engine(phase: phase.rawValue, error) }
            let elapsed = clock.nanoseconds() - start
            if let before, let after = ProcessMemory.residentBytes() {
                memoryReported = true
                pendingMemory = (BenchMemoryResult(phase: phase, records: n, residentBytesAdded: max(0, after - before),
                                           rawBytesPerRecord: config.keySize + config.valueSize))
            }
            return BenchPhaseResult(phase: phase, operations: n, nanoseconds: elapsed,
                                    bytesWritten: n * (config.keySize + config.valueSize))
        }

        let wantsRandomFill = config.phases.contains { $0.needsRandomFill || $0 == .fillrandom }
        for phase in config.phases {
            switch phase {
            case .fillseq:
                let engine = try open(phase)
                let result = try fill(engine, phase, order: nil)
                do { try engine.close() } catch { throw .engine(phase: phase.rawValue, error) }
                report(result)
            case .fillrandom, .overwrite, .readrandom, .readseq, .deleterandom:
                if randomEngine == nil {
                    guard wantsRandomFill else { continue }
                    let engine = try open(.fillrandom)
                    randomEngine = engine
                    let order = permutation(config.num, &rng)
                    let result = try fill(engine, .fillrandom, order: order)
                    if phase == .fillrandom { report(result); continue }
                    if config.phases.contains(.fillrandom) { report(result) }
                } else if phase == .fillrandom {
                    continue
                }
                let engine = randomEngine!
                switch phase {
                case .overwrite:
                    report(try fill(engine, .overwrite, order: permutation(config.num, &rng)))
                case .readrandom:
                    report(try readRandom(engine, &keys, &rng))
                case .readseq:
                    report(try readSequential(engine))
                case .deleterandom:
                    report(try deleteRandom(engine, &keys, permutation(config.num, &rng)))
                default:
                    break
                }
            }
        }
        return results
    }

    private func readRandom(_ engine: any KeyValueEngine, _ keys: inout KeyFormatter, _ rng: inout SeededRandom) throws(BenchError) -> BenchPhaseResult {
        let n = configuration.num
        var found = 0
        var wrongSize = -1
        let expectedSize = configuration.valueSize
        let start = clock.nanoseconds()
        do {
            for _ in 0..<n {
                let k = Int(rng.next(below: UInt64(n)))
                let size = try keys.withKey(k) { (key) throws(EngineError) in try engine.get(key) { $0.count } }
                if let size {
                    found += 1
                    if size != expectedSize { wrongSize = k }
                }
            }
        } catch { throw .engine(phase: "readrandom", error) }
        let elapsed = clock.nanoseconds() - start
        if wrongSize >= 0, engine.capabilities.contains(.storesData) {
            throw .wrongValue(phase: "readrandom", key: keys.string(wrongSize))
        }
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

    private func deleteRandom(_ engine: any KeyValueEngine, _ keys: inout KeyFormatter, _ order: [Int]) throws(BenchError) -> BenchPhaseResult {
        var existed = 0
        let start = clock.nanoseconds()
        do {
            for k in order {
                if try keys.withKey(k, { (key) throws(EngineError) in try engine.delete(key, options: .default) }) { existed += 1 }
            }
        } catch { throw .engine(phase: "deleterandom", error) }
        let elapsed = clock.nanoseconds() - start
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
