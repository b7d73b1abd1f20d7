// YCSB's sequential distribution: start, start+1, ... wrapping around.

/// start + (c mod count) for c = 0, 1, 2, ...  (the run phase shares one counter between
/// threads; see `CoreWorkload`).
public struct SequentialGenerator: Sendable {
    public let start: Int64
    public let count: Int64
    var counter: Int64 = 0

    public init(min: Int64, max: Int64) {
        precondition(max >= min, "sequential range is empty")
        start = min
        count = max - min + 1
    }

    /// The next value.
    public mutating func next() -> Int64 {
        defer { counter &+= 1 }
        return value(at: counter)
    }

    /// The value for counter value `c`.
    @inline(__always)
    public func value(at c: Int64) -> Int64 { start + c % count }
}
