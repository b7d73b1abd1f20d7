// Writing RESP: values, and the small building blocks a server writes replies with.

import NIOCore

/// Where serialized bytes go: a `[UInt8]` or a NIO `ByteBuffer`.
public protocol RESPByteSink {
    mutating func writeRESPBytes(_ bytes: UnsafeRawBufferPointer)
    mutating func writeRESPByte(_ byte: UInt8)
}

extension Array: RESPByteSink where Element == UInt8 {
    @inlinable public mutating func writeRESPBytes(_ bytes: UnsafeRawBufferPointer) { append(contentsOf: bytes) }
    @inlinable public mutating func writeRESPByte(_ byte: UInt8) { append(byte) }
}

extension ByteBuffer: RESPByteSink {
    @inlinable public mutating func writeRESPBytes(_ bytes: UnsafeRawBufferPointer) { writeBytes(bytes) }
    @inlinable public mutating func writeRESPByte(_ byte: UInt8) { writeInteger(byte) }
}

/// The RESP protocol version a connection speaks (`HELLO 3` switches to RESP3).
public enum RESPVersion: Int, Sendable {
    case resp2 = 2, resp3 = 3
}

/// RESP building blocks, generic over the sink so they specialize for arrays and ByteBuffers.
public enum RESPWriter {
    /// `\r\n`
    @inlinable
    public static func crlf<S: RESPByteSink>(_ sink: inout S) {
        sink.writeRESPByte(13)
        sink.writeRESPByte(10)
    }

    /// The decimal digits of `value` (no allocation).
    @inlinable
    public static func decimal<S: RESPByteSink>(_ value: Int64, _ sink: inout S) {
        if value >= 0 && value < 10 {
            sink.writeRESPByte(UInt8(value) + 48)
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var magnitude = value.magnitude
            var i = 20
            repeat {
                i -= 1
                buffer[i] = UInt8(magnitude % 10) + 48
                magnitude /= 10
            } while magnitude > 0
            if value < 0 { i -= 1; buffer[i] = UInt8(ascii: "-") }
            sink.writeRESPBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[i..<20]))
        }
    }

    /// A type byte, a decimal number, CRLF: `*3\r\n`, `$5\r\n`, `:42\r\n`.
    @inlinable
    public static func header<S: RESPByteSink>(_ type: UInt8, _ value: Int, _ sink: inout S) {
        sink.writeRESPByte(type)
        decimal(Int64(value), &sink)
        crlf(&sink)
    }

    /// `$n\r\n<bytes>\r\n`
    @inlinable
    public static func bulk<S: RESPByteSink>(_ bytes: UnsafeRawBufferPointer, _ sink: inout S) {
        header(UInt8(ascii: "$"), bytes.count, &sink)
        sink.writeRESPBytes(bytes)
        crlf(&sink)
    }

    /// A bulk string of `text`'s UTF-8.
    @inlinable
    public static func bulk<S: RESPByteSink>(_ text: String, _ sink: inout S) {
        var t = text
        t.withUTF8 { bulk(UnsafeRawBufferPointer($0), &sink) }
    }

    /// `+text\r\n` (text must not contain CR or LF).
    @inlinable
    public static func simple<S: RESPByteSink>(_ text: StaticString, _ sink: inout S) {
        sink.writeRESPByte(UInt8(ascii: "+"))
        sink.writeRESPBytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        crlf(&sink)
    }

    /// `+text\r\n` or `-text\r\n` from a String; CR and LF are replaced by spaces, as Redis does.
    public static func line<S: RESPByteSink>(_ type: UInt8, _ text: String, _ sink: inout S) {
        sink.writeRESPByte(type)
        var clean = Array(text.utf8)
        for i in clean.indices where clean[i] == 13 || clean[i] == 10 { clean[i] = 32 }
        clean.withUnsafeBytes { sink.writeRESPBytes($0) }
        crlf(&sink)
    }

    /// The null of the protocol: `$-1` (RESP2) or `_` (RESP3).
    @inlinable
    public static func null<S: RESPByteSink>(_ version: RESPVersion, _ sink: inout S) {
        if version == .resp3 {
            sink.writeRESPByte(UInt8(ascii: "_"))
        } else {
            sink.writeRESPByte(UInt8(ascii: "$"))
            sink.writeRESPByte(UInt8(ascii: "-"))
            sink.writeRESPByte(UInt8(ascii: "1"))
        }
        crlf(&sink)
    }

    /// A double as Redis formats it: integral values without a fraction, else shortest round-trip.
    public static func formatDouble(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded(), abs(d) < 1e17 { return String(Int64(d)) }
        return "\(d)"
    }

    /// Serializes `value` (RESP3 types as written; the caller chooses them by protocol version).
    public static func value<S: RESPByteSink>(_ value: RESPValue, _ sink: inout S) {
        switch value {
        case .simpleString(let s): line(UInt8(ascii: "+"), s, &sink)
        case .error(let s): line(UInt8(ascii: "-"), s, &sink)
        case .integer(let i):
            sink.writeRESPByte(UInt8(ascii: ":"))
            decimal(i, &sink)
            crlf(&sink)
        case .bulkString(let b): b.withUnsafeBytes { bulk($0, &sink) }
        case .null: null(.resp2, &sink)
        case .nullArray:
            sink.writeRESPByte(UInt8(ascii: "*")); sink.writeRESPByte(UInt8(ascii: "-")); sink.writeRESPByte(UInt8(ascii: "1")); crlf(&sink)
        case .array(let items):
            header(UInt8(ascii: "*"), items.count, &sink)
            for item in items { Self.value(item, &sink) }
        case .double(let d): line(UInt8(ascii: ","), formatDouble(d), &sink)
        case .boolean(let b): line(UInt8(ascii: "#"), b ? "t" : "f", &sink)
        case .bigNumber(let s): line(UInt8(ascii: "("), s, &sink)
        case .bulkError(let s):
            let bytes = Array(s.utf8)
            header(UInt8(ascii: "!"), bytes.count, &sink)
            bytes.withUnsafeBytes { sink.writeRESPBytes($0) }
            crlf(&sink)
        case .verbatimString(let format, let text):
            let bytes = Array((format + ":").utf8) + text
            header(UInt8(ascii: "="), bytes.count, &sink)
            bytes.withUnsafeBytes { sink.writeRESPBytes($0) }
            crlf(&sink)
        case .map(let pairs):
            header(UInt8(ascii: "%"), pairs.count, &sink)
            for p in pairs { Self.value(p.key, &sink); Self.value(p.value, &sink) }
        case .set(let items):
            header(UInt8(ascii: "~"), items.count, &sink)
            for item in items { Self.value(item, &sink) }
        case .push(let items):
            header(UInt8(ascii: ">"), items.count, &sink)
            for item in items { Self.value(item, &sink) }
        }
    }
}

extension RESPValue {
    /// The value's RESP bytes.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        RESPWriter.value(self, &out)
        return out
    }
}
