// Reusable key and value buffers, so the bench loop measures the engine and not allocation.

/// Formats key number `k` as its decimal, zero-padded on the left to `keySize` bytes
/// (db_bench's `%016d`), in one reused buffer.
struct KeyFormatter {
    let keySize: Int
    private var buffer: [UInt8]

    init(keySize: Int) {
        self.keySize = keySize
        buffer = [UInt8](repeating: UInt8(ascii: "0"), count: keySize)
    }

    mutating func withKey<R, E: Error>(_ k: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let size = keySize
        let result: Result<R, E> = buffer.withUnsafeMutableBytes { raw in
            var n = k
            var i = size - 1
            while i >= 0 {
                raw[i] = UInt8(truncatingIfNeeded: 48 + n % 10)
                n /= 10
                i -= 1
            }
            do throws(E) { return .success(try body(UnsafeRawBufferPointer(raw))) } catch { return .failure(error) }
        }
        return try result.get()
    }

    mutating func string(_ k: Int) -> String {
        withKey(k) { String(decoding: $0, as: UTF8.self) }
    }
}

/// A value of `size` bytes: byte j is `'a' + j % 26`, except that the first min(8, size) bytes
/// hold the little-endian operation index, so consecutive writes differ (same as the C++
/// reference program).
struct ValueBuffer {
    private var buffer: [UInt8]

    init(size: Int) {
        buffer = (0..<size).map { UInt8(ascii: "a") + UInt8($0 % 26) }
    }

    mutating func stamp(_ op: UInt64) {
        let n = min(8, buffer.count)
        buffer.withUnsafeMutableBytes { raw in
            var v = op
            for i in 0..<n {
                raw[i] = UInt8(truncatingIfNeeded: v)
                v >>= 8
            }
        }
    }

    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = buffer.withUnsafeBytes { raw in
            do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
