// NIO channel handlers that frame RESP values: a decoder (bytes -> RESPValue) and an encoder.

import NIOCore

/// Decodes a stream of RESP values (replies, or any RESP traffic) on a NIO channel.
/// Incomplete frames stay buffered until the rest arrives; malformed input fails the channel
/// with a `RESPParseError` whose offset counts from the first byte the channel received.
public struct RESPValueDecoder: ByteToMessageDecoder {
    public typealias InboundOut = RESPValue
    let parser: RESPValueParser
    /// Stream bytes consumed so far, for error offsets.
    private var consumed = 0

    public init(limits: RESPLimits = .default) { parser = RESPValueParser(limits: limits) }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let base = consumed
        let parser = self.parser
        let result = try buffer.withUnsafeReadableBytes { raw in try parser.parse(raw, baseOffset: base) }
        guard let (value, n) = result else {
            if buffer.readableBytes > parser.limits.maxQueryBuffer {
                throw RESPParseError.queryBufferExceeded(size: buffer.readableBytes, limit: parser.limits.maxQueryBuffer)
            }
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: n)
        consumed += n
        context.fireChannelRead(wrapInboundOut(value))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

/// Decodes client commands (RESP arrays of bulk strings, or inline lines) on a NIO channel.
public struct RESPCommandDecoder: ByteToMessageDecoder {
    public typealias InboundOut = RESPCommand
    private var parser: RESPCommandParser
    private var consumed = 0

    public init(limits: RESPLimits = .default) { parser = RESPCommandParser(limits: limits) }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        var command = RESPCommand()
        let base = consumed
        var parser = self.parser
        let n = try buffer.withUnsafeReadableBytes { raw in try parser.parse(raw, baseOffset: base, into: &command) }
        self.parser = parser
        guard let n else {
            if buffer.readableBytes > parser.limits.maxQueryBuffer {
                throw RESPParseError.queryBufferExceeded(size: buffer.readableBytes, limit: parser.limits.maxQueryBuffer)
            }
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: n)
        consumed += n
        if !command.isEmpty { context.fireChannelRead(wrapInboundOut(command)) }
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}

/// Encodes `RESPValue`s as RESP bytes.
public struct RESPValueEncoder: MessageToByteEncoder {
    public typealias OutboundIn = RESPValue
    public init() {}
    public func encode(data: RESPValue, out: inout ByteBuffer) throws {
        RESPWriter.value(data, &out)
    }
}
