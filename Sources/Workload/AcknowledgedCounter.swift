// Insert numbers for the run phase, and the highest one below which every insert has completed.

import KVCore
import Synchronization

/// YCSB's `AcknowledgedCounterGenerator`: `next()` hands out key numbers for inserts starting at
/// `start`; `acknowledge(_:)` marks one done (whether it succeeded or not, as YCSB does); `limit`
/// is the highest number such that it and every number before it were acknowledged. Key
/// choosers redraw any key above `limit`, so reads never target an insert still in flight.
///
/// Acknowledgements are tracked in a ring of `windowSize` slots; a number more than a window
/// ahead of the limit is a `WorkloadError.tooManyUnacknowledgedInserts`
/// (the numbers limit+1 ... limit+windowSize map to distinct slots).
public final class AcknowledgedCounter: @unchecked Sendable {
    /// YCSB's window: 2^20.
    public static let defaultWindowSize = 1 << 20

    private let counter: Atomic<Int64>
    private let limitValue: Atomic<Int64>
    // Guarded by `lock`.
    private let lock = Lock()
    private let window: UnsafeMutablePointer<Bool>
    private let windowMask: Int64
    public let windowSize: Int64

    /// - Parameters:
    ///   - start: the first number handed out (recordcount); the limit starts at start - 1.
    ///   - windowSize: a power of two.
    public init(start: Int64, windowSize: Int = AcknowledgedCounter.defaultWindowSize) {
        precondition(windowSize > 0 && windowSize & (windowSize - 1) == 0, "window size must be a power of two")
        counter = Atomic(start)
        limitValue = Atomic(start - 1)
        window = .allocate(capacity: windowSize)
        window.initialize(repeating: false, count: windowSize)
        windowMask = Int64(windowSize - 1)
        self.windowSize = Int64(windowSize)
    }

    deinit {
        window.deallocate()
    }

    /// The next insert number.
    public func next() -> Int64 {
        counter.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// The number `next()` would hand out now.
    public var peek: Int64 { counter.load(ordering: .relaxed) }

    /// The highest number with all numbers up to it acknowledged.
    @inline(__always)
    public var limit: Int64 { limitValue.load(ordering: .acquiring) }

    /// Marks insert `value` as done and advances the limit over contiguous acknowledgements.
    /// Acknowledging a number at or below the limit again does nothing.
    /// - Throws: `WorkloadError.tooManyUnacknowledgedInserts` if `value` is more than a window
    ///   past the limit.
    public func acknowledge(_ value: Int64) throws(WorkloadError) {
        lock.lock()
        defer { lock.unlock() }
        var current = limitValue.load(ordering: .relaxed)
        guard value > current else { return }
        guard value - current <= windowSize else {
            throw .tooManyUnacknowledgedInserts(keyNumber: value, limit: current, window: windowSize)
        }
        window[Int(value & windowMask)] = true
        while window[Int((current + 1) & windowMask)] {
            window[Int((current + 1) & windowMask)] = false
            current += 1
        }
        limitValue.store(current, ordering: .releasing)
    }
}
