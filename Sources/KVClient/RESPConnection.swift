// A blocking RESP connection over a TCP socket: write many commands, then read their replies.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RESP

/// A host and port.
public struct RedisEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) { self.host = host; self.port = port }
    public var description: String { "\(host):\(port)" }
}

/// Why a client operation failed.
public enum RESPClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The TCP connection could not be made.
    case connect(endpoint: String, message: String)
    /// Reading or writing the socket failed (or timed out).
    case io(endpoint: String, operation: String, message: String)
    /// The server closed the connection.
    case closed(endpoint: String)
    /// The server's bytes were not valid RESP.
    case malformedReply(endpoint: String, error: RESPParseError)
    /// The server answered with an error reply where the caller needed success.
    case server(String)
    /// A URL such as `redis://:pw@host:port` could not be parsed.
    case invalidURL(String, reason: String)
    /// Redis Cluster routing failed (no slot owner, too many redirections, bad CLUSTER SLOTS).
    case cluster(String)
    /// No sentinel named a primary that confirmed its role (`SentinelDiscovery`).
    case sentinel(String)

    public var description: String {
        switch self {
        case let .connect(e, m): return "cannot connect to \(e): \(m)"
        case let .io(e, op, m): return "\(op) on the connection to \(e) failed: \(m)"
        case let .closed(e): return "\(e) closed the connection"
        case let .malformedReply(e, err): return "malformed reply from \(e): \(err)"
        case let .server(m): return "server error: \(m)"
        case let .invalidURL(u, r): return "invalid target '\(u)': \(r)"
        case let .cluster(m): return "cluster: \(m)"
        case let .sentinel(m): return "sentinel: \(m)"
        }
    }
}

/// One blocking TCP connection speaking RESP. Not thread-safe: one thread uses it at a time
/// (the driver gives each thread its own). Commands are appended to a write buffer with
/// `append`; `flush` sends them all at once; `readReply` returns replies in order — so any
/// number of commands can be pipelined per round trip.
public final class RESPConnection: @unchecked Sendable {
    public let endpoint: RedisEndpoint
    private var fd: Int32
    private var writeBuffer: [UInt8] = []
    private var readBuffer: [UInt8]
    private var readStart = 0
    private var readEnd = 0
    /// Stream offset of readBuffer[0], for parse error offsets.
    private var streamOffset = 0
    private let parser: RESPValueParser
    /// Commands written (or buffered) whose replies have not been read.
    public private(set) var pendingReplies = 0

    /// The default connect timeout: long enough for a loaded server's accept queue, short
    /// enough that a driver thread facing a host that drops SYNs moves on (the kernel's own
    /// limit, about two minutes of SYN retries, would freeze it).
    public static let defaultConnectTimeoutSeconds: Double = 5

    /// Connects, and authenticates when `password` is given.
    /// - Parameters:
    ///   - timeoutSeconds: send/receive timeout; a silent server fails the call after it.
    ///   - connectTimeoutSeconds: how long the TCP handshake may take (0 = the kernel's limit).
    ///   - sourceHost: the local address the socket is bound to before it connects (bind(2)), so a
    ///     fault-injecting proxy can tell parties apart by source IP (127.0.0.K); nil lets the
    ///     kernel choose.
    /// - Throws: `.connect` (refused, unreachable, a source address that cannot be bound, or
    ///   `timed out after N s`), or the AUTH failure.
    public init(endpoint: RedisEndpoint, password: String? = nil, timeoutSeconds: Double = 30,
                connectTimeoutSeconds: Double = RESPConnection.defaultConnectTimeoutSeconds,
                limits: RESPLimits = .default, sourceHost: String? = nil) throws(RESPClientError) {
        self.endpoint = endpoint
        parser = RESPValueParser(limits: limits)
        readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
        writeBuffer.reserveCapacity(64 * 1024)
        fd = try Self.dial(endpoint, timeoutSeconds: timeoutSeconds, connectTimeoutSeconds: connectTimeoutSeconds,
                           sourceHost: sourceHost)
        if let password {
            let reply = try call(["AUTH", password])
            if case .error(let message) = reply { close(); throw .server(message) }
        }
    }

    deinit { close() }

    /// Closes the socket (idempotent).
    public func close() {
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
    }

    public var isOpen: Bool { fd >= 0 }

    /// A connected TCP socket to `endpoint` (each address tried in turn), bound first to
    /// `sourceHost` if given, with TCP_NODELAY and `timeoutSeconds` send/receive timeouts.
    /// Also used by `BlockingSocket` (memcached, etcd).
    static func dial(_ endpoint: RedisEndpoint, timeoutSeconds: Double,
                     connectTimeoutSeconds: Double, sourceHost: String?) throws(RESPClientError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &result)
        guard status == 0, let first = result else {
            throw .connect(endpoint: endpoint.description, message: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(result) }
        var lastError = "no address"
        var info: UnsafeMutablePointer<addrinfo>? = first
        while let ai = info {
            let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if s >= 0, let sourceHost, let failure = bind(socket: s, to: sourceHost, family: ai.pointee.ai_family) {
                _ = Glibc.close(s)
                throw .connect(endpoint: endpoint.description, message: "cannot bind the source address \(sourceHost): \(failure)")
            }
            if s >= 0 {
                if let failure = connect(socket: s, to: ai.pointee.ai_addr, length: ai.pointee.ai_addrlen,
                                         timeoutSeconds: connectTimeoutSeconds) {
                    lastError = failure
                } else {
                    var one: Int32 = 1
                    setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    var tv = timeval(tv_sec: Int(timeoutSeconds), tv_usec: Int((timeoutSeconds - timeoutSeconds.rounded(.down)) * 1e6))
                    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                    return s
                }
                _ = Glibc.close(s)
            }
            info = ai.pointee.ai_next
        }
        throw .connect(endpoint: endpoint.description, message: lastError)
    }

    /// Binds `s` to `host` (port 0: any) in address family `family`; nil on success, else why not.
    private static func bind(socket s: Int32, to host: String, family: Int32) -> String? {
        var hints = addrinfo()
        hints.ai_family = family
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(host, "0", &hints, &result)
        guard status == 0, let first = result else { return String(cString: gai_strerror(status)) }
        defer { freeaddrinfo(result) }
        return Glibc.bind(s, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 ? nil : String(cString: strerror(errno))
    }

    /// Connects `s` within `timeoutSeconds` (a non-blocking connect polled for writability, then
    /// the socket made blocking again); returns nil on success or the reason it failed.
    private static func connect(socket s: Int32, to address: UnsafeMutablePointer<sockaddr>?, length: socklen_t,
                                timeoutSeconds: Double) -> String? {
        guard timeoutSeconds > 0 else {
            return Glibc.connect(s, address, length) == 0 ? nil : String(cString: strerror(errno))
        }
        let flags = fcntl(s, F_GETFL, 0)
        _ = fcntl(s, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(s, F_SETFL, flags) }
        if Glibc.connect(s, address, length) == 0 { return nil }
        guard errno == EINPROGRESS || errno == EINTR else { return String(cString: strerror(errno)) }
        var remainingMs = Int(timeoutSeconds * 1000)
        while true {
            var ready = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
            var started = timespec()
            clock_gettime(CLOCK_MONOTONIC, &started)
            let n = poll(&ready, 1, Int32(clamping: max(1, remainingMs)))
            if n > 0 { break }
            if n == 0 { return "timed out after \(timeoutSeconds) s" }
            guard errno == EINTR else { return String(cString: strerror(errno)) }
            // Interrupted by a signal: wait only for what is left of the timeout.
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            remainingMs -= (now.tv_sec - started.tv_sec) * 1000 + (now.tv_nsec - started.tv_nsec) / 1_000_000
            if remainingMs <= 0 { return "timed out after \(timeoutSeconds) s" }
        }
        var socketError: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(s, SOL_SOCKET, SO_ERROR, &socketError, &size) == 0 else { return String(cString: strerror(errno)) }
        return socketError == 0 ? nil : String(cString: strerror(socketError))
    }

    // MARK: Writing

    /// Starts a command of `count` arguments (the name included); follow with `count` `appendArgument`s.
    @inline(__always)
    public func beginCommand(argumentCount count: Int) {
        RESPWriter.header(UInt8(ascii: "*"), count, &writeBuffer)
        pendingReplies += 1
    }

    /// Appends one argument of the command begun with `beginCommand`.
    @inline(__always)
    public func appendArgument(_ bytes: UnsafeRawBufferPointer) {
        RESPWriter.bulk(bytes, &writeBuffer)
    }

    /// Appends one text argument.
    public func appendArgument(_ text: String) {
        RESPWriter.bulk(text, &writeBuffer)
    }

    /// Appends one argument.
    public func appendArgument(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { RESPWriter.bulk($0, &writeBuffer) }
    }

    /// Buffers a whole command.
    public func append(_ arguments: [String]) {
        beginCommand(argumentCount: arguments.count)
        for a in arguments { appendArgument(a) }
    }

    /// Buffers a whole command.
    public func append(arguments: [[UInt8]]) {
        beginCommand(argumentCount: arguments.count)
        for a in arguments { appendArgument(a) }
    }

    /// Buffers raw bytes as they are (tests of malformed input). Expects `replies` replies.
    public func appendRaw(_ bytes: [UInt8], expectingReplies replies: Int = 0) {
        writeBuffer.append(contentsOf: bytes)
        pendingReplies += replies
    }

    /// Sends everything buffered.
    public func flush() throws(RESPClientError) {
        guard !writeBuffer.isEmpty else { return }
        guard fd >= 0 else { throw .closed(endpoint: endpoint.description) }
        var sent = 0
        let total = writeBuffer.count
        let failure: String? = writeBuffer.withUnsafeBytes { raw in
            while sent < total {
                let n = send(fd, raw.baseAddress! + sent, total - sent, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                sent += n
            }
            return nil
        }
        writeBuffer.removeAll(keepingCapacity: true)
        if let failure { close(); throw .io(endpoint: endpoint.description, operation: "send", message: failure) }
    }

    // MARK: Reading

    /// Reads the next reply (flushing buffered commands first). Error replies are returned as
    /// `.error` values, not thrown.
    public func readReply() throws(RESPClientError) -> RESPValue {
        try flush()
        while true {
            if readEnd > readStart {
                let base = streamOffset + readStart
                let parsed: Result<(value: RESPValue, consumed: Int)?, RESPParseError> = readBuffer.withUnsafeBytes { raw in
                    do throws(RESPParseError) {
                        return .success(try parser.parse(UnsafeRawBufferPointer(rebasing: raw[readStart..<readEnd]), baseOffset: base))
                    } catch { return .failure(error) }
                }
                switch parsed {
                case .failure(let error):
                    close()
                    throw .malformedReply(endpoint: endpoint.description, error: error)
                case .success(let r?):
                    readStart += r.consumed
                    if pendingReplies > 0 { pendingReplies -= 1 }
                    return r.value
                case .success(nil):
                    break
                }
            }
            try fill()
        }
    }

    /// Reads the next reply without building a `RESPValue`: `body` gets its head and the
    /// buffer the head's ranges point into (valid only during the call). No allocation.
    ///
    /// Not generic, so a caller in another module pays no generic-metadata lookup per reply (it
    /// showed in profiles of the pipelined driver); `readReplyHead(_:)` below wraps it for any
    /// result type.
    public func readReplyHead(_ body: (RESPReplyHead, UnsafeRawBufferPointer) -> Int) throws(RESPClientError) -> Int {
        try flush()
        while true {
            if readEnd > readStart {
                let base = streamOffset + readStart
                let start = readStart, end = readEnd
                let parser = self.parser
                let parsed: Result<(Int, Int)?, RESPParseError> = readBuffer.withUnsafeBytes { raw in
                    let window = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                    do throws(RESPParseError) {
                        guard let (head, n) = try parser.parseHead(window, baseOffset: base) else { return .success(nil) }
                        return .success((body(head, window), n))
                    } catch { return .failure(error) }
                }
                switch parsed {
                case .failure(let error):
                    close()
                    throw .malformedReply(endpoint: endpoint.description, error: error)
                case .success(let r?):
                    readStart += r.1
                    if pendingReplies > 0 { pendingReplies -= 1 }
                    return r.0
                case .success(nil):
                    break
                }
            }
            try fill()
        }
    }

    /// Reads the next reply's head into `body`, for any result type (see the `Int` form).
    public func readReplyHead<R>(_ body: (RESPReplyHead, UnsafeRawBufferPointer) -> R) throws(RESPClientError) -> R {
        var result: R? = nil
        _ = try readReplyHead { (head, raw) -> Int in
            result = body(head, raw)
            return 0
        }
        return result!
    }

    /// Reads more bytes into the buffer, compacting or growing it first.
    private func fill() throws(RESPClientError) {
        guard fd >= 0 else { throw .closed(endpoint: endpoint.description) }
        if readStart == readEnd {
            streamOffset += readStart
            readStart = 0
            readEnd = 0
        } else if readEnd == readBuffer.count {
            if readStart > 0 {
                let live = readEnd - readStart
                readBuffer.withUnsafeMutableBytes { raw in
                    raw.baseAddress!.copyMemory(from: raw.baseAddress! + readStart, byteCount: live)
                }
                streamOffset += readStart
                readStart = 0
                readEnd = live
            } else {
                readBuffer.append(contentsOf: repeatElement(0, count: readBuffer.count))
            }
        }
        let capacity = readBuffer.count - readEnd
        let end = readEnd
        let n = readBuffer.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress! + end, capacity, 0) }
        if n == 0 { close(); throw .closed(endpoint: endpoint.description) }
        if n < 0 {
            if errno == EINTR { return }
            let message = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : String(cString: strerror(errno))
            close()
            throw .io(endpoint: endpoint.description, operation: "recv", message: message)
        }
        readEnd += n
    }

    // MARK: Conveniences

    /// Sends one command and returns its reply.
    public func call(_ arguments: [String]) throws(RESPClientError) -> RESPValue {
        append(arguments)
        return try readReply()
    }

    /// Sends one command and returns its reply.
    public func call(arguments: [[UInt8]]) throws(RESPClientError) -> RESPValue {
        append(arguments: arguments)
        return try readReply()
    }

    /// Sends every command in one write and returns their replies in order.
    public func pipeline(_ commands: [[String]]) throws(RESPClientError) -> [RESPValue] {
        for c in commands { append(c) }
        try flush()
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try readReply()) }
        return replies
    }
}

extension RESPConnection {
    /// Buffers `command` (its arguments as they are).
    public func append(_ command: RESPCommand) {
        beginCommand(argumentCount: command.count)
        command.storage.withUnsafeBytes { all in
            for r in command.ranges { appendArgument(UnsafeRawBufferPointer(rebasing: all[r])) }
        }
    }
}

extension RedisClusterClient {
    /// Sends `command`, routed by the argument at `keyIndex`.
    public func call(_ command: RESPCommand, keyIndex: Int = 1) throws(RESPClientError) -> RESPValue {
        try call(command.arguments, keyIndex: keyIndex)
    }
}
