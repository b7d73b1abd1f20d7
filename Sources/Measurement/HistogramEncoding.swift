// HdrHistogram's standard V2 compressed encoding ("HISTFAAA..." in base64), encoder and decoder.

import CompressNIO
import Foundation
import Histogram
import NIOCore

/// HdrHistogram's standard V2 compressed histogram encoding, as Java's
/// `encodeIntoCompressedByteBuffer` writes it and every HdrHistogram port reads it.
///
/// Layout (all integers big-endian):
///
/// Compressed wrapper:
/// | bytes | field |
/// |---|---|
/// | 4 | cookie `0x1c849314` (V2 compressed, 8-byte word size) |
/// | 4 | length of the zlib stream that follows |
/// | n | zlib stream (RFC 1950: header, deflate, Adler-32) of the payload below |
///
/// Payload (40-byte header, then counts):
/// | bytes | field |
/// |---|---|
/// | 4 | cookie `0x1c849313` (V2 encoding) |
/// | 4 | length of the counts body in bytes |
/// | 4 | normalizing index offset (always 0 here) |
/// | 4 | number of significant value digits |
/// | 8 | lowest discernible value |
/// | 8 | highest trackable value |
/// | 8 | integer-to-double conversion ratio (IEEE 754 double, 1.0) |
/// | body | counts from index 0 to the index of the maximum value, each ZigZag-encoded then LEB128 (at most 9 bytes, the 9th carries 8 bits); a run of k ≥ 2 zero counts is written as the single value −k |
///
/// The text form is the standard base64 of the wrapper.
public enum HistogramEncoding {
    static let payloadCookie: UInt32 = 0x1c84_9313
    static let compressedCookie: UInt32 = 0x1c84_9314
    static let payloadHeaderSize = 40
    /// Decoded payloads larger than this are refused (a one-hour ns histogram needs < 310 KB).
    static let maximumPayloadSize = 64 << 20

    /// Encodes a histogram to base64 text.
    public static func encodeBase64(_ histogram: Histogram<UInt64>) -> String {
        Data(encode(histogram)).base64EncodedString()
    }

    /// Decodes base64 text produced by ``encodeBase64(_:)`` or any HdrHistogram implementation.
    /// - Throws: ``HistogramEncodingError`` naming what was wrong and at which byte.
    public static func decodeBase64(_ text: String) throws(HistogramEncodingError) -> Histogram<UInt64> {
        guard let data = Data(base64Encoded: text) else { throw .invalidBase64 }
        return try decode([UInt8](data))
    }

    /// Encodes a histogram to the compressed V2 bytes.
    public static func encode(_ histogram: Histogram<UInt64>) -> [UInt8] {
        let layout = HistogramLayout(histogram)
        // Non-zero counts by index, in index order (recordedValues visits indices in order).
        var body = ByteBuffer()
        var nextIndex = 0
        for iv in histogram.recordedValues() {
            let index = layout.countsIndex(for: iv.value)
            let zeros = index - nextIndex
            if zeros == 1 { writeZigZag(0, to: &body) } else if zeros > 1 { writeZigZag(-Int64(zeros), to: &body) }
            writeZigZag(Int64(clamping: iv.count), to: &body)
            nextIndex = index + 1
        }
        var payload = ByteBuffer()
        payload.reserveCapacity(payloadHeaderSize + body.readableBytes)
        payload.writeInteger(payloadCookie)
        payload.writeInteger(UInt32(body.readableBytes))
        payload.writeInteger(UInt32(0))
        payload.writeInteger(UInt32(histogram.numberOfSignificantValueDigits.rawValue))
        payload.writeInteger(histogram.lowestDiscernibleValue)
        payload.writeInteger(histogram.highestTrackableValue)
        payload.writeInteger((1.0 as Double).bitPattern)
        payload.writeBuffer(&body)

        var compressed = ByteBuffer()
        do {
            let compressor = CompressionAlgorithm.zlib().compressor
            try compressor.startStream()
            compressed.reserveCapacity(compressor.maxSize(from: payload))
            try compressor.streamDeflate(from: &payload, to: &compressed, flush: .finish)
            try compressor.finishStream()
        } catch {
            // zlib only fails here on an undersized output buffer or no memory; both are programming errors.
            preconditionFailure("zlib compression of a histogram failed: \(error)")
        }
        var wrapper = ByteBuffer()
        wrapper.writeInteger(compressedCookie)
        wrapper.writeInteger(UInt32(compressed.readableBytes))
        wrapper.writeBuffer(&compressed)
        return Array(wrapper.readableBytesView)
    }

    /// Decodes compressed V2 bytes into a histogram with the encoded layout.
    /// - Throws: ``HistogramEncodingError`` naming what was wrong and at which byte.
    public static func decode(_ bytes: [UInt8]) throws(HistogramEncodingError) -> Histogram<UInt64> {
        var wrapper = ByteBuffer(bytes: bytes)
        guard let cookie = wrapper.readInteger(as: UInt32.self), let length = wrapper.readInteger(as: UInt32.self) else {
            throw .truncated(offset: bytes.count, expected: "8-byte compressed header")
        }
        guard cookie == compressedCookie else {
            throw .badCookie(offset: 0, found: cookie, expected: compressedCookie)
        }
        guard Int(length) <= wrapper.readableBytes else {
            throw .truncated(offset: bytes.count, expected: "\(length) bytes of zlib data after offset 8")
        }
        var compressed = wrapper.readSlice(length: Int(length))!
        var payload: ByteBuffer
        do {
            payload = try compressed.decompress(with: .zlib(), maxSize: maximumPayloadSize)
        } catch {
            throw .corruptCompression(offset: 8, detail: "\(error)")
        }
        return try decodePayload(&payload)
    }

    static func decodePayload(_ payload: inout ByteBuffer) throws(HistogramEncodingError) -> Histogram<UInt64> {
        let size = payload.readableBytes
        guard size >= payloadHeaderSize else {
            throw .truncated(offset: size, expected: "\(payloadHeaderSize)-byte payload header (payload offsets)")
        }
        let cookie = payload.readInteger(as: UInt32.self)!
        let bodyLength = Int(payload.readInteger(as: UInt32.self)!)
        let normalizingOffset = payload.readInteger(as: UInt32.self)!
        let digits = payload.readInteger(as: UInt32.self)!
        let lowest = payload.readInteger(as: UInt64.self)!
        let highest = payload.readInteger(as: UInt64.self)!
        _ = payload.readInteger(as: UInt64.self)!  // conversion ratio: irrelevant for integer histograms
        guard cookie == payloadCookie else { throw .badCookie(offset: 0, found: cookie, expected: payloadCookie) }
        guard normalizingOffset == 0 else {
            throw .unsupported(offset: 8, detail: "normalizing index offset \(normalizingOffset) (only 0 is supported)")
        }
        guard let significantDigits = SignificantDigits(rawValue: Int8(clamping: digits)) else {
            throw .invalidHeader(offset: 12, detail: "significant value digits \(digits), expected 0...5")
        }
        guard lowest >= 1, lowest <= UInt64.max / 2, highest >= 2 * lowest else {
            throw .invalidHeader(offset: 16, detail: "lowest \(lowest) / highest \(highest): need lowest ≥ 1 and highest ≥ 2 × lowest")
        }
        guard HistogramLayout.isRepresentable(lowest: lowest, digits: significantDigits) else {
            throw .invalidHeader(offset: 12, detail: "lowest \(lowest) with \(digits) digits exceeds 64-bit values")
        }
        guard bodyLength <= payload.readableBytes else {
            throw .truncated(offset: size, expected: "\(bodyLength)-byte counts body after the 40-byte header (payload offsets)")
        }
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: lowest, highestTrackableValue: highest,
                                          numberOfSignificantValueDigits: significantDigits)
        let layout = HistogramLayout(histogram)
        let countsLength = layout.countsLength(highestTrackableValue: highest)
        var index = 0
        let bodyEnd = payloadHeaderSize + bodyLength
        while payload.readerIndex < bodyEnd {
            let at = payload.readerIndex
            let value = try readZigZag(&payload, end: bodyEnd)
            if value < 0 {
                let zeros = value == Int64.min ? Int.max : Int(-value)
                guard zeros <= countsLength - index else {
                    throw .countsOverflow(offset: at, detail: "a run of \(zeros) zero counts passes the last index \(countsLength - 1)")
                }
                index += zeros
            } else {
                guard index < countsLength else {
                    throw .countsOverflow(offset: at, detail: "count for index \(index) beyond the last index \(countsLength - 1)")
                }
                if value > 0 { histogram.record(layout.value(atIndex: index), count: UInt64(value)) }
                index += 1
            }
        }
        return histogram
    }

    // MARK: ZigZag LEB128, as Java HdrHistogram's ZigZagEncoding

    static func writeZigZag(_ value: Int64, to buffer: inout ByteBuffer) {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        for _ in 0..<8 {
            if v >> 7 == 0 {
                buffer.writeInteger(UInt8(v))
                return
            }
            buffer.writeInteger(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        buffer.writeInteger(UInt8(truncatingIfNeeded: v))
    }

    static func readZigZag(_ buffer: inout ByteBuffer, end: Int) throws(HistogramEncodingError) -> Int64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        let start = buffer.readerIndex
        while true {
            guard buffer.readerIndex < end, let byte = buffer.readInteger(as: UInt8.self) else {
                throw .truncated(offset: start, expected: "a complete LEB128 count (payload offset)")
            }
            if shift == 56 {
                v |= UInt64(byte) << 56
                break
            }
            v |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }
}

/// What was wrong with an encoded histogram. Offsets count bytes from the start of the compressed wrapper,
/// or of the decompressed payload where the message says "payload".
public enum HistogramEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidBase64
    case truncated(offset: Int, expected: String)
    case badCookie(offset: Int, found: UInt32, expected: UInt32)
    case corruptCompression(offset: Int, detail: String)
    case invalidHeader(offset: Int, detail: String)
    case unsupported(offset: Int, detail: String)
    case countsOverflow(offset: Int, detail: String)

    public var description: String {
        switch self {
        case .invalidBase64: "not valid base64"
        case let .truncated(offset, expected): "truncated at byte \(offset): expected \(expected)"
        case let .badCookie(offset, found, expected):
            "bad cookie at byte \(offset): found 0x\(String(found, radix: 16)), expected 0x\(String(expected, radix: 16)) (HdrHistogram V2 compressed encoding)"
        case let .corruptCompression(offset, detail): "zlib data at byte \(offset) is corrupt: \(detail)"
        case let .invalidHeader(offset, detail): "invalid payload header at payload byte \(offset): \(detail)"
        case let .unsupported(offset, detail): "unsupported encoding at payload byte \(offset): \(detail)"
        case let .countsOverflow(offset, detail): "counts at payload byte \(offset): \(detail)"
        }
    }
}

/// HdrHistogram's index ⇄ value arithmetic for one layout, mirroring the (internal) math of
/// hdrhistogram-swift and Java's AbstractHistogram.
struct HistogramLayout {
    let unitMagnitude: Int
    let subBucketHalfCountMagnitude: Int
    let subBucketCount: Int
    let subBucketHalfCount: Int
    let subBucketMask: UInt64
    let leadingZeroCountBase: Int

    init(_ histogram: Histogram<UInt64>) {
        self.init(lowest: histogram.lowestDiscernibleValue, digits: histogram.numberOfSignificantValueDigits)
    }

    init(lowest: UInt64, digits: SignificantDigits) {
        let largestSingleUnit = 2 * pow(10.0, Double(digits.rawValue))
        unitMagnitude = Int(log2(Double(lowest)))
        let subBucketCountMagnitude = Int(log2(largestSingleUnit).rounded(.up))
        subBucketHalfCountMagnitude = max(subBucketCountMagnitude, 1) - 1
        subBucketCount = 1 << subBucketCountMagnitude
        subBucketHalfCount = subBucketCount / 2
        subBucketMask = UInt64(subBucketCount - 1) << unitMagnitude
        leadingZeroCountBase = 64 - unitMagnitude - subBucketCountMagnitude
    }

    static func isRepresentable(lowest: UInt64, digits: SignificantDigits) -> Bool {
        let layout = HistogramLayout(lowest: lowest, digits: digits)
        return layout.unitMagnitude + layout.subBucketHalfCountMagnitude <= 61
    }

    func countsIndex(for value: UInt64) -> Int {
        let bucketIndex = leadingZeroCountBase - (value | subBucketMask).leadingZeroBitCount
        let subBucketIndex = Int(value >> UInt64(bucketIndex + unitMagnitude))
        return ((bucketIndex + 1) << subBucketHalfCountMagnitude) + subBucketIndex - subBucketHalfCount
    }

    func value(atIndex index: Int) -> UInt64 {
        var bucketIndex = (index >> subBucketHalfCountMagnitude) - 1
        var subBucketIndex = (index & (subBucketHalfCount - 1)) + subBucketHalfCount
        if bucketIndex < 0 {
            subBucketIndex -= subBucketHalfCount
            bucketIndex = 0
        }
        return UInt64(subBucketIndex) << UInt64(bucketIndex + unitMagnitude)
    }

    func countsLength(highestTrackableValue: UInt64) -> Int {
        var smallestUntrackable = UInt64(subBucketCount) << UInt64(unitMagnitude)
        var buckets = 1
        while smallestUntrackable <= highestTrackableValue {
            if smallestUntrackable > UInt64.max / 2 { buckets += 1; break }
            smallestUntrackable <<= 1
            buckets += 1
        }
        return (buckets + 1) * subBucketHalfCount
    }
}
