// Field lengths drawn from a YCSB histogram file (fieldlengthdistribution=histogram).

import KVCore

/// A histogram of lengths, as YCSB's `HistogramGenerator` reads it:
///
///     BlockSize<TAB>n
///     index<TAB>count
///     ...
///
/// Bucket `i` (in file order, as YCSB appends them) with count c_i yields length (i+1)*n with
/// probability c_i / Σc. Blanks other than TAB are accepted as separators too.
///
/// Deliberate difference from YCSB: YCSB draws r in [0, Σc) and returns the first bucket where
/// r - (c_0 + ... + c_i) ≤ 0, which gives bucket 0 one extra unit of weight (even when c_0 = 0)
/// and the last bucket one less. kvlab returns the first bucket where r < c_0 + ... + c_i.
public struct HistogramGenerator: Sendable {
    public let blockSize: Int64
    public let buckets: [Int64]
    public let area: Int64

    /// - Throws: `WorkloadError.histogram` naming the file and line.
    public init(contents: String, path: String) throws(WorkloadError) {
        var lines = contents.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first else {
            throw .histogram(path: path, line: 1, message: "empty histogram: expected a first line 'BlockSize<TAB>n'")
        }
        func fields(_ line: Substring) -> [Substring] {
            line.split(whereSeparator: { $0 == "\t" || $0 == " " || $0 == "\r" })
        }
        let head = fields(first)
        guard head.count == 2, head[0] == "BlockSize", let size = Int64(head[1]), size > 0 else {
            throw .histogram(path: path, line: 1, message: "'\(first)': expected 'BlockSize<TAB>n' with n > 0")
        }
        var buckets: [Int64] = []
        var area: Int64 = 0
        for (offset, line) in lines.dropFirst().enumerated() {
            let lineNumber = offset + 2
            let parts = fields(line)
            if parts.isEmpty { continue }
            guard parts.count == 2, Int64(parts[0]) != nil, let count = Int64(parts[1]), count >= 0 else {
                throw .histogram(path: path, line: lineNumber, message: "'\(line)': expected 'index<TAB>count' with count ≥ 0")
            }
            buckets.append(count)
            area += count
        }
        guard area > 0 else {
            throw .histogram(path: path, line: lines.count, message: "histogram has no weight: expected at least one bucket with count > 0")
        }
        blockSize = size
        self.buckets = buckets
        self.area = area
    }

    /// Reads a histogram file.
    public static func load(path: String) throws(WorkloadError) -> HistogramGenerator {
        try HistogramGenerator(contents: try FileText.read(path), path: path)
    }

    /// The largest length this histogram yields.
    public var maximum: Int64 { Int64(buckets.count) * blockSize }

    /// A length, bucket i with probability c_i / Σc.
    public mutating func next(using rng: inout SeededRandom) -> Int64 {
        var number = Int64(rng.next(below: UInt64(area)))
        for (i, count) in buckets.enumerated() {
            number -= count
            if number < 0 { return Int64(i + 1) * blockSize }
        }
        return Int64(buckets.count) * blockSize
    }
}
