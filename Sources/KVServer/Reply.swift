// Writing replies in the connection's protocol version straight into the output buffer.

import NIOCore
import RESP

/// The reply stream of one connection. Commands write their replies here; the transport sends
/// the buffer. RESP3-only shapes (maps, doubles, verbatim strings) fall back to their RESP2
/// forms when the connection speaks RESP2.
public struct Reply {
    public var buffer: ByteBuffer
    public var version: RESPVersion

    public init(buffer: ByteBuffer, version: RESPVersion = .resp2) {
        self.buffer = buffer
        self.version = version
    }

    @inline(__always) public mutating func ok() { RESPWriter.simple("OK", &buffer) }
    @inline(__always) public mutating func simple(_ text: StaticString) { RESPWriter.simple(text, &buffer) }
    public mutating func simple(_ text: String) { RESPWriter.line(UInt8(ascii: "+"), text, &buffer) }
    /// `-<message>`: `message` starts with the error code (ERR, WRONGTYPE, NOAUTH, ...).
    public mutating func error(_ message: String) { RESPWriter.line(UInt8(ascii: "-"), message, &buffer) }
    @inline(__always) public mutating func integer(_ value: Int64) {
        buffer.writeInteger(UInt8(ascii: ":"))
        RESPWriter.decimal(value, &buffer)
        RESPWriter.crlf(&buffer)
    }
    @inline(__always) public mutating func integer(_ value: Int) { integer(Int64(value)) }
    @inline(__always) public mutating func bulk(_ bytes: UnsafeRawBufferPointer) { RESPWriter.bulk(bytes, &buffer) }
    public mutating func bulk(_ bytes: [UInt8]) { bytes.withUnsafeBytes { RESPWriter.bulk($0, &buffer) } }
    public mutating func bulk(_ text: String) { RESPWriter.bulk(text, &buffer) }
    @inline(__always) public mutating func null() { RESPWriter.null(version, &buffer) }
    /// A null where RESP2 uses the null array (`*-1`).
    public mutating func nullArray() {
        if version == .resp3 { RESPWriter.null(.resp3, &buffer) } else { RESPWriter.value(.nullArray, &buffer) }
    }
    @inline(__always) public mutating func arrayHeader(_ count: Int) { RESPWriter.header(UInt8(ascii: "*"), count, &buffer) }
    /// A map of `count` pairs (RESP3 `%`), or a flat array of 2×count elements (RESP2).
    public mutating func mapHeader(_ count: Int) {
        if version == .resp3 { RESPWriter.header(UInt8(ascii: "%"), count, &buffer) } else { arrayHeader(count * 2) }
    }
    /// A set (RESP3 `~`) or an array (RESP2).
    public mutating func setHeader(_ count: Int) {
        if version == .resp3 { RESPWriter.header(UInt8(ascii: "~"), count, &buffer) } else { arrayHeader(count) }
    }
    /// A double (RESP3 `,`) or its text as a bulk string (RESP2), formatted as Redis does.
    public mutating func double(_ value: Double) {
        if version == .resp3 { RESPWriter.value(.double(value), &buffer) } else { bulk(RESPWriter.formatDouble(value)) }
    }
    /// Verbatim text (RESP3 `=txt:`) or a bulk string (RESP2), as INFO replies.
    public mutating func verbatim(_ text: String) {
        if version == .resp3 { RESPWriter.value(.verbatimString(format: "txt", text: Array(text.utf8)), &buffer) } else { bulk(text) }
    }
    /// Any value, as given.
    public mutating func value(_ value: RESPValue) { RESPWriter.value(value, &buffer) }
}
