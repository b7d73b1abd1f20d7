// The writer side of a crash test: runs the operation stream against an engine, acknowledging each operation as it returns.

import KVCore

/// What a crash-test writer process runs (`kvlab crash-writer`).
public struct CrashWriterPlan: Sendable, Hashable {
    /// Seed of the operation stream.
    public var seed: UInt64
    /// First operation number.
    public var start: Int
    /// Operations to run; 0 runs until the process is killed.
    public var count: Int
    /// Size of the key space.
    public var keyCount: Int

    public init(seed: UInt64, start: Int = 0, count: Int = 0, keyCount: Int = CrashTestConfiguration.defaultKeyCount) {
        self.seed = seed
        self.start = start
        self.count = count
        self.keyCount = keyCount
    }

    /// Runs the plan on `engine`, calling `acknowledge(n)` after operation `n` returned (the
    /// caller writes it out at once, so that a kill loses at most the operation in flight).
    /// - Throws: the engine's error, for the operation that failed.
    public func run(on engine: any KeyValueEngine, acknowledge: (Int) -> Void) throws(CrashWriterError) {
        var n = start
        while count == 0 || n < start + count {
            let operation = CrashOperation.make(number: n, seed: seed, keyCount: keyCount)
            do { try operation.apply(to: engine) } catch { throw CrashWriterError(operation: n, error: error) }
            acknowledge(n)
            n += 1
        }
    }
}

/// An engine error in the writer, naming the operation.
public struct CrashWriterError: Error, Sendable, CustomStringConvertible {
    public var operation: Int
    public var error: EngineError
    public var description: String { "operation \(operation): \(error)" }
}
