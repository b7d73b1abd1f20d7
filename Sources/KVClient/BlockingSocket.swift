// A blocking TCP socket with a write buffer and a read buffer: what the memcached and etcd clients share.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a socket operation of the memcached or etcd client failed.
public enum SocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The TCP connection could not be made (nothing was sent).
    case connect(endpoint: String, message: String)
    /// Reading or writing failed or timed out (what was sent may have been applied).
    case io(endpoint: String, operation: String, message: String)
    /// The peer closed the connection.
    case closed(endpoint: String)
    /// The peer's bytes did not follow the protocol.
    case protocolViolation(endpoint: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .connect(e, m): return "cannot connect to \(e): \(m)"
        case let .io(e, op, m): return "\(op) on the connection to \(e) failed: \(m)"
        case let .closed(e): return "\(e) closed the connection"
        case let .protocolViolation(e, expected, found): return "unexpected reply from \(e): expected \(expected), found \(found)"
        }
    }

    /// Whether the request may have reached the server (so a write's outcome is unknown).
    public var requestMayHaveBeenSent: Bool {
        if case .connect = self { return false }
        return true
    }
}

/// One blocking TCP connection. Bytes are appended to `output` and sent by `flush`; replies are
/// read through `readLine` and `readExactly`, which hand out views into the read buffer valid
/// until the next read. Not thread-safe: one thread owns it.
public final class BlockingSocket {
    public let endpoint: RedisEndpoint
    // @exclusivity(unchecked): one thread owns the socket (above), and the dynamic exclusivity
    // checks on these properties (swift_beginAccess/endAccess) were ~10% of the memcached
    // driver's instructions per operation in callgrind.
    @exclusivity(unchecked) private var fd: Int32
    /// Bytes to send at the next `flush`.
    @exclusivity(unchecked) public var output: [UInt8] = []
    @exclusivity(unchecked) private var input: [UInt8]
    @exclusivity(unchecked) private var start = 0
    @exclusivity(unchecked) private var end = 0

    /// Connects to `endpoint` within `settings.connectTimeoutSeconds`; reads and writes then time
    /// out after `settings.ioTimeoutSeconds`.
    public init(endpoint: RedisEndpoint, settings: ConnectionSettings) throws(SocketError) {
        self.endpoint = endpoint
        input = [UInt8](repeating: 0, count: 64 * 1024)
        output.reserveCapacity(16 * 1024)
        fd = try Self.open(endpoint, settings: settings)
    }

    deinit { close() }

    /// Whether the socket is open (it closes itself on any failure).
    public var isOpen: Bool { fd >= 0 }

    /// The socket's descriptor, for poll(2) over several connections (-1 when closed).
    public var fileDescriptor: Int32 { fd }

    /// Whether received bytes are waiting in the buffer (poll(2) cannot see them).
    public var hasBufferedInput: Bool { end > start }

    /// Closes the socket (idempotent); buffered input and output are dropped.
    public func close() {
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
        output.removeAll(keepingCapacity: true)
        start = 0
        end = 0
    }

    /// Sets how long a read may block (SO_RCVTIMEO), at least 1 ms: a caller bounded by a run's
    /// deadline shortens it for one synchronous request, then sets it back.
    public func setReceiveTimeout(nanoseconds: UInt64) {
        guard fd >= 0 else { return }
        let nanos = max(1_000_000, nanoseconds)
        var tv = timeval(tv_sec: Int(nanos / 1_000_000_000), tv_usec: Int(nanos % 1_000_000_000 / 1000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Dials with the same code as `RESPConnection` (timeouts, TCP_NODELAY, the source address).
    private static func open(_ endpoint: RedisEndpoint, settings: ConnectionSettings) throws(SocketError) -> Int32 {
        do {
            return try RESPConnection.dial(endpoint, timeoutSeconds: settings.ioTimeoutSeconds,
                                           connectTimeoutSeconds: settings.connectTimeoutSeconds, sourceHost: settings.sourceHost)
        } catch {
            if case .connect(let where_, let message) = error { throw .connect(endpoint: where_, message: message) }
            throw .connect(endpoint: endpoint.description, message: error.description)
        }
    }

    // MARK: Writing

    /// Appends text to the output.
    @inline(__always)
    public func write(_ text: StaticString) {
        output.append(contentsOf: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Appends bytes to the output.
    @inline(__always)
    public func write(_ bytes: UnsafeRawBufferPointer) { output.append(contentsOf: bytes) }

    /// Appends a string's UTF-8 to the output. Disfavoured so that a literal picks the
    /// `StaticString` overload (a raw copy) instead of walking a `String.UTF8View`.
    @_disfavoredOverload
    public func write(_ text: String) { output.append(contentsOf: text.utf8) }

    /// Appends a non-negative decimal number.
    public func writeDecimal(_ value: Int) { writeDecimal(UInt64(clamping: value)) }

    /// Appends a decimal number (a CAS unique) without going through `String`.
    public func writeDecimal(_ value: UInt64) {
        if value < 10 { output.append(UInt8(ascii: "0") + UInt8(value)); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 { d[n] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10; n += 1 }
            for i in stride(from: n - 1, through: 0, by: -1) { output.append(d[i]) }
        }
    }

    /// Sends everything in `output`. - Throws: `.io` (the socket is then closed).
    public func flush() throws(SocketError) {
        guard !output.isEmpty else { return }
        guard fd >= 0 else { throw .closed(endpoint: endpoint.description) }
        let total = output.count
        let failure: String? = output.withUnsafeBytes { raw in
            var sent = 0
            while sent < total {
                let n = send(fd, raw.baseAddress! + sent, total - sent, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : String(cString: strerror(errno))
                }
                sent += n
            }
            return nil
        }
        output.removeAll(keepingCapacity: true)
        if let failure { close(); throw .io(endpoint: endpoint.description, operation: "send", message: failure) }
    }

    // MARK: Reading

    /// Reads up to and including the next `\r\n` (at most `limit` bytes) and gives `body` the
    /// line without it. - Throws: `.closed`, `.io`, or `.protocolViolation` past `limit`.
    public func readLine<R>(limit: Int = 64 * 1024, _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R) throws(SocketError) -> R {
        var scanned = start
        while true {
            if let lineEnd = findCRLF(from: scanned) {
                let from = start
                start = lineEnd + 2
                return try withInput(from..<lineEnd, body)
            }
            scanned = max(start, end - 1)
            if end - start > limit {
                let found = String(decoding: input[start..<min(end, start + 40)], as: UTF8.self)
                close()
                throw .protocolViolation(endpoint: endpoint.description, expected: "a line of at most \(limit) bytes", found: "\(found)...")
            }
            let before = start
            try fill()
            scanned -= before - start
        }
    }

    private func findCRLF(from: Int) -> Int? {
        guard end - from >= 2 else { return nil }
        return input.withUnsafeBytes { raw -> Int? in
            var i = from
            while i < end - 1 {
                guard let p = memchr(raw.baseAddress! + i, 13, end - 1 - i) else { return nil }
                i = raw.baseAddress!.distance(to: UnsafeRawPointer(p))
                if raw[i + 1] == 10 { return i }
                i += 1
            }
            return nil
        }
    }

    /// Reads exactly `count` bytes and gives `body` a view of them.
    public func readExactly<R>(_ count: Int, _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R) throws(SocketError) -> R {
        while end - start < count { try fill(needing: count) }
        let from = start
        start += count
        return try withInput(from..<from + count, body)
    }

    /// `body` over `input[range]`; Array's `withUnsafeBytes` rethrows untyped, so the error
    /// (always a `SocketError`, the only type `body` throws) is cast back.
    private func withInput<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R) throws(SocketError) -> R {
        do {
            return try input.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[range])) }
        } catch {
            throw error as! SocketError
        }
    }

    /// Reads more bytes: compacts the buffer, grows it if `needing` bytes cannot fit.
    private func fill(needing: Int = 0) throws(SocketError) {
        guard fd >= 0 else { throw .closed(endpoint: endpoint.description) }
        if start == end { start = 0; end = 0 }
        let live = end - start
        if end == input.count || input.count - start < needing {
            if start > 0 {
                let from = start
                input.withUnsafeMutableBytes { raw in raw.baseAddress!.copyMemory(from: raw.baseAddress! + from, byteCount: live) }
                start = 0
                end = live
            }
            if end == input.count || input.count < needing {
                input.append(contentsOf: repeatElement(0, count: max(input.count, needing - input.count)))
            }
        }
        let capacity = input.count - end
        let at = end
        let n = input.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress! + at, capacity, 0) }
        if n == 0 { close(); throw .closed(endpoint: endpoint.description) }
        if n < 0 {
            if errno == EINTR { return }
            let message = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : String(cString: strerror(errno))
            close()
            throw .io(endpoint: endpoint.description, operation: "recv", message: message)
        }
        end += n
    }
}

extension UnsafeRawBufferPointer {
    /// The decimal number these ASCII digits spell, or nil.
    public var decimalValue: Int? {
        guard !isEmpty, count <= 19 else { return nil }
        var v = 0
        for b in self {
            guard b >= 48 && b <= 57 else { return nil }
            // 19 digits can exceed Int.max: a number from the network must not trap.
            let (tens, o1) = v.multipliedReportingOverflow(by: 10)
            let (sum, o2) = tens.addingReportingOverflow(Int(b - 48))
            guard !o1 && !o2 else { return nil }
            v = sum
        }
        return v
    }

    /// Whether the bytes spell `text`.
    public func equals(_ text: StaticString) -> Bool {
        guard count == text.utf8CodeUnitCount else { return false }
        return count == 0 || memcmp(baseAddress!, text.utf8Start, count) == 0
    }
}
