// YCSB key names: "user" + zero padding + decimal of the key number or of its FNV-1a-64 hash.

/// YCSB's `Utils.fnvhash64`: FNV-1a 64 over the 8 bytes of `value`, least-significant byte
/// first, then the absolute value of the signed result (Java `Math.abs`, so `Int64.min` stays).
@inlinable
public func fnvHash64(_ value: Int64) -> Int64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    var v = UInt64(bitPattern: value)
    for _ in 0..<8 {
        hash ^= v & 0xFF
        hash = hash &* 1_099_511_628_211
        v >>= 8
    }
    let signed = Int64(bitPattern: hash)
    return signed < 0 ? 0 &- signed : signed
}

/// Turns key numbers into YCSB key names.
public struct KeyNamer: Sendable, Equatable {
    /// Whether numbers are hashed (`insertorder=hashed`) or used as is (`ordered`).
    public let hashed: Bool
    /// Minimum number of digits (`zeropadding`), filled with leading zeros.
    public let zeroPadding: Int

    public init(hashed: Bool, zeroPadding: Int) {
        self.hashed = hashed
        self.zeroPadding = max(zeroPadding, 1)
    }

    /// Bytes a key can take: "user", the padding or 20 digits, a sign.
    public var maximumLength: Int { 4 + max(zeroPadding, 20) + 1 }

    /// Writes the name of key number `keyNumber` at `buffer` and returns its length.
    /// The caller guarantees `maximumLength` bytes of room. Allocates nothing.
    public func write(_ keyNumber: Int64, to buffer: UnsafeMutablePointer<UInt8>) -> Int {
        let number = hashed ? fnvHash64(keyNumber) : keyNumber
        // Hashed keys are almost all 16 to 19 digits (a hash below 10^15 has odds 1 in 9,000):
        // for them, no digit count by comparisons and no loop (`longName`).
        if number >= 1_000_000_000_000_000 && zeroPadding <= 16 {
            return KeyNamer.longName(UInt64(number), to: buffer)
        }
        // "user" as one little-endian 32-bit store.
        UnsafeMutableRawPointer(buffer).storeBytes(of: UInt32(0x7265_7375), as: UInt32.self)
        var magnitude = number.magnitude
        let digitCount = KeyNamer.decimalDigits(magnitude)
        var out = 4
        // Java pads before the sign: "user" + zeros + Long.toString(n).
        let textLength = digitCount + (number < 0 ? 1 : 0)
        if textLength < zeroPadding {
            (buffer + out).initialize(repeating: 0x30, count: zeroPadding - textLength)
            out += zeroPadding - textLength
        }
        if number < 0 { buffer[out] = 0x2D; out += 1 }
        // Digits from the end: eight per 64-bit division by 10^8, then four, then a pair, then
        // the last one, each group converted in one register (`eightDigits`, `fourDigits`):
        // two divisions and no per-digit work for the 19-digit hashed keys of the default workloads.
        let raw = UnsafeMutableRawPointer(buffer)
        var position = out + digitCount
        let end = position
        while magnitude >= 100_000_000 {
            let (q, r) = magnitude.quotientAndRemainder(dividingBy: 100_000_000)
            position -= 8
            raw.storeBytes(of: KeyNamer.eightDigits(r), toByteOffset: position, as: UInt64.self)
            magnitude = q
        }
        if magnitude >= 10_000 {
            let (q, r) = magnitude.quotientAndRemainder(dividingBy: 10_000)
            position -= 4
            raw.storeBytes(of: KeyNamer.fourDigits(r), toByteOffset: position, as: UInt32.self)
            magnitude = q
        }
        if magnitude >= 100 {
            let (q, r) = magnitude.quotientAndRemainder(dividingBy: 100)
            position -= 2
            raw.storeBytes(of: KeyNamer.digitPair(r), toByteOffset: position, as: UInt16.self)
            magnitude = q
        }
        if magnitude >= 10 {
            position -= 2
            raw.storeBytes(of: KeyNamer.digitPair(magnitude), toByteOffset: position, as: UInt16.self)
        } else {
            buffer[position - 1] = UInt8(truncatingIfNeeded: magnitude) &+ 0x30
        }
        return end
    }

    /// "user" and the 16 to 20 digits of `value` ≥ 10^15 (no padding or sign needed), at `buffer`;
    /// returns the length.
    ///
    /// value = hi · 10^16 + mid · 10^8 + low with hi < 1845: the 20 digits "hi mid low" (hi as
    /// four, with leading zeros) end where the name ends, so hi's store starts 16 - digits bytes
    /// before "user" ends, inside the buffer since digits ≥ 16; "user" is stored last, over hi's
    /// leading zeros.
    @inline(__always)
    static func longName(_ value: UInt64, to buffer: UnsafeMutablePointer<UInt8>) -> Int {
        // high = value / 10^16 straight from value, beside upper = value / 10^8, rather than
        // upper / 10^8: two independent multiply-shifts instead of one waiting on the other.
        let upper = value / 100_000_000
        let high = value / 10_000_000_000_000_000
        let low = value &- upper &* 100_000_000
        let mid = upper &- high &* 100_000_000
        let digits = 16 + (high >= 100 ? (high >= 1000 ? 4 : 3) : (high >= 10 ? 2 : (high >= 1 ? 1 : 0)))
        let end = 4 + digits
        let raw = UnsafeMutableRawPointer(buffer)
        raw.storeBytes(of: fourDigits(high), toByteOffset: end - 20, as: UInt32.self)
        raw.storeBytes(of: eightDigits(mid), toByteOffset: end - 16, as: UInt64.self)
        raw.storeBytes(of: eightDigits(low), toByteOffset: end - 8, as: UInt64.self)
        raw.storeBytes(of: UInt32(0x7265_7375), as: UInt32.self)
        return end
    }

    /// The eight ASCII digits of `value` < 10^8 (leading zeros kept), as a little-endian UInt64.
    ///
    /// `fourDigits` widened: the halves (value / 10^4, value % 10^4) in two 32-bit lanes are
    /// each split into hundreds and the rest by x * 10 486 >> 20 (exact below 10^4), giving four
    /// 16-bit lanes of two digits, divided by 10 together as in `fourDigits`.
    @inline(__always)
    static func eightDigits(_ value: UInt64) -> UInt64 {
        let high = value / 10_000
        let halves = high | (value &- high &* 10_000) << 32
        let hundreds = ((halves &* 10_486) >> 20) & 0x0000_007F_0000_007F
        let pairs = hundreds | (halves &- hundreds &* 100) << 16
        let tens = ((pairs &* 103) >> 10) & 0x000F_000F_000F_000F
        let ones = pairs &- tens &* 10
        return (tens | ones << 8) &+ 0x3030_3030_3030_3030
    }

    /// The four ASCII digits of `value` < 10 000 (leading zeros kept), as a little-endian UInt32.
    ///
    /// Both pairs at once, one per 16-bit lane of a word: value = 100 h + l is split by a
    /// multiply-shift (exact below 43 699), the lanes (h, l) are divided by 10 together with
    /// x * 103 >> 10 (exact below 179; no lane overflows into the next), and each lane's ones
    /// are x - 10 * tens. About half the instructions of two `digitPair` calls (callgrind).
    @inline(__always)
    static func fourDigits(_ value: UInt64) -> UInt32 {
        let high = (value &* 5243) >> 19
        let low = value &- high &* 100
        let lanes = high | low << 16
        let tens = ((lanes &* 103) >> 10) & 0x000F_000F
        let ones = lanes &- tens &* 10
        return UInt32(truncatingIfNeeded: (tens | ones << 8) &+ 0x3030_3030)
    }

    /// The two ASCII digits of `value` < 100, as a little-endian UInt16.
    @inline(__always)
    static func digitPair(_ value: UInt64) -> UInt16 {
        let tens = UInt16(truncatingIfNeeded: value / 10)
        let ones = UInt16(truncatingIfNeeded: value) &- tens &* 10
        return (tens &+ 0x30) | (ones &+ 0x30) << 8
    }

    /// Number of decimal digits of `value` (1 for 0): five comparisons and at most four
    /// divisions by constants, instead of one comparison per digit.
    @inline(__always)
    static func decimalDigits(_ value: UInt64) -> Int {
        var digits = 1
        var x = value
        if x >= 10_000_000_000_000_000 { digits += 16; x /= 10_000_000_000_000_000 }
        if x >= 100_000_000 { digits += 8; x /= 100_000_000 }
        if x >= 10_000 { digits += 4; x /= 10_000 }
        if x >= 100 { digits += 2; x /= 100 }
        if x >= 10 { digits += 1 }
        return digits
    }

    /// The name of key number `keyNumber` as a String (tests, messages).
    public func name(_ keyNumber: Int64) -> String {
        String(decoding: bytes(keyNumber), as: UTF8.self)
    }

    /// The name of key number `keyNumber` as bytes.
    public func bytes(_ keyNumber: Int64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maximumLength) { buffer, count in
            count = write(keyNumber, to: buffer.baseAddress!)
        }
    }
}
