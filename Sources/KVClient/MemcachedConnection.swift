// A blocking memcached client over the text protocol: pipelined get/gets/set/cas/delete, reconnection with backoff.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed `memcached://host[:port]` target (port 11211 by default).
public struct MemcachedURL: Sendable, Hashable {
    public var endpoint: RedisEndpoint

    public init(_ url: String) throws(RESPClientError) {
        guard url.hasPrefix("memcached://") else { throw .invalidURL(url, reason: "expected memcached://host:port") }
        var rest = Substring(url.dropFirst("memcached://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains(",") && !rest.contains("/") && !rest.contains("@") else {
            throw .invalidURL(url, reason: "expected one host:port (no path, credentials or list)")
        }
        var host = String(rest)
        var port = 11211
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw .invalidURL(url, reason: "port '\(rest[rest.index(after: colon)...])' is not in 1...65535")
            }
            port = p
            host = String(rest[..<colon])
        }
        guard !host.isEmpty else { throw .invalidURL(url, reason: "missing host") }
        endpoint = RedisEndpoint(host: host, port: port)
    }
}

/// What a storage command (`set`, `cas`) answered.
public enum MemcachedStoreResult: Sendable, Equatable {
    /// `STORED`.
    case stored
    /// `EXISTS`: a `cas` whose item changed since its `gets`.
    case exists
    /// `NOT_FOUND`: a `cas` on a missing item.
    case notFound
    /// An error line (`ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`), as sent.
    case error(String)
}

/// One memcached server over the text protocol (`get`/`gets`, `set`, `cas`, `delete`).
///
/// Requests are queued with the `queue…` methods and sent together by `flush` (or by the first
/// read); replies come back in request order and are read with the matching `read…` method —
/// so any number of requests can be pipelined per round trip, as memtier does. The connection
/// reopens itself after a failure, waiting `settings.backoff` while attempts keep failing
/// (as `ReconnectingConnection` does for RESP). Not thread-safe: one driver thread owns it.
///
/// Keys must be 1–250 bytes without spaces or control characters (memcached's rule); values
/// are stored with flags 0 and no expiry.
public final class MemcachedConnection {
    public let endpoint: RedisEndpoint
    public let settings: ConnectionSettings
    let clock: any ClientClock
    // @exclusivity(unchecked): one driver thread owns the connection; the dynamic checks on
    // these properties ran on every request and reply (callgrind, memcached driver).
    @exclusivity(unchecked) private var socket: BlockingSocket?
    private var consecutiveFailures = 0
    private var nextAttempt: UInt64 = 0
    /// See `limitWaits(until:)`; `receiveTimeoutShortened` notes that the socket's read timeout
    /// was cut below `settings.ioTimeoutSeconds` and must be set back.
    @exclusivity(unchecked) private var waitLimit: UInt64?
    @exclusivity(unchecked) private var receiveTimeoutShortened = false
    /// When, and for which limit, the shortened read timeout was last set (on `clock`).
    @exclusivity(unchecked) private var receiveTimeoutSetAt: UInt64 = 0
    @exclusivity(unchecked) private var receiveTimeoutSetFor: UInt64 = 0
    /// Connections opened after the first one.
    public private(set) var reconnections = 0
    /// Requests queued or sent whose replies have not been read.
    @exclusivity(unchecked) public private(set) var pendingReplies = 0
    /// The largest value length a reply may announce (memcached's own ceiling, `-I 1024m`): a
    /// larger one is a protocol violation, not a buffer of that size.
    public static let maximumValueLength = 1 << 30

    /// Connects at once (a server missing at the start is a configuration error).
    public init(endpoint: RedisEndpoint, settings: ConnectionSettings = ConnectionSettings(),
                clock: any ClientClock = SystemClientClock()) throws(SocketError) {
        self.endpoint = endpoint
        self.settings = settings
        self.clock = clock
        socket = try BlockingSocket(endpoint: endpoint, settings: settings)
    }

    /// Whether a connection is open now.
    public var isConnected: Bool { socket?.isOpen ?? false }

    /// The open socket's descriptor for poll(2) (-1 when not connected): an event-driven driver
    /// waits on several connections and reads a reply from the one that became readable.
    public var fileDescriptor: Int32 { socket?.fileDescriptor ?? -1 }

    /// Whether reply bytes already received wait in the buffer (poll(2) would not report them).
    public var hasBufferedReply: Bool { socket?.hasBufferedInput ?? false }

    /// When the next reconnection may be attempted, on `clock` (0: at once). An event-driven
    /// caller does not give a connection in backoff new work until then, instead of letting
    /// `open()` sleep out the backoff while its other connections wait.
    public var nextAttemptNanoseconds: UInt64 { socket?.isOpen == true ? 0 : nextAttempt }

    /// Bounds this connection's blocking waits (the backoff sleep before a reconnection, a
    /// reply's read) by `limit` on `clock`, or lifts the bound (nil). A run with a time limit
    /// sets it around a synchronous request so a stalled server cannot hold the run past its end;
    /// a request cut short by it fails as a timeout (the connection is then closed, as after any
    /// lost reply).
    public func limitWaits(until limit: UInt64?) {
        waitLimit = limit
    }

    /// The open socket, reconnecting (after the backoff) if the last one failed.
    private func open() throws(SocketError) -> BlockingSocket {
        if let s = socket, s.isOpen { return s }
        socket = nil
        pendingReplies = 0
        if nextAttempt > 0 {
            if let waitLimit, waitLimit < nextAttempt {
                // The backoff outlasts the caller's limit: no attempt (it would come too late).
                clock.sleep(until: waitLimit)
                throw .connect(endpoint: endpoint.description, message: "backing off after \(consecutiveFailures) failures past the time limit")
            }
            clock.sleep(until: nextAttempt)
        }
        do {
            let s = try BlockingSocket(endpoint: endpoint, settings: settings)
            socket = s
            receiveTimeoutShortened = false
            reconnections += 1
            return s
        } catch {
            failed()
            throw error
        }
    }

    /// Sets the socket's read timeout to what is left before `waitLimit` (if shorter than the I/O
    /// timeout), or back to the I/O timeout once the limit is lifted. - Throws: a timeout when
    /// the limit has passed (nothing is read; the caller fails the connection).
    private func boundReceiveTimeout(_ s: BlockingSocket) throws(SocketError) {
        let io = UInt64(max(0.001, settings.ioTimeoutSeconds) * 1e9)
        guard let waitLimit else {
            s.setReceiveTimeout(nanoseconds: io)
            receiveTimeoutShortened = false
            return
        }
        let now = clock.nanoseconds()
        guard now < waitLimit else {
            throw .io(endpoint: endpoint.description, operation: "recv", message: "timed out at the run's time limit")
        }
        if waitLimit - now < io {
            // Set again at most every 50 ms (a read may then end up to 50 ms past the limit): an
            // event loop bounded by a run's deadline reads a reply every few microseconds, and a
            // setsockopt for each would cost a system call per operation.
            if !receiveTimeoutShortened || receiveTimeoutSetFor != waitLimit || now &- receiveTimeoutSetAt >= 50_000_000 {
                s.setReceiveTimeout(nanoseconds: waitLimit - now)
                receiveTimeoutShortened = true
                receiveTimeoutSetAt = now
                receiveTimeoutSetFor = waitLimit
            }
        } else if receiveTimeoutShortened {
            s.setReceiveTimeout(nanoseconds: io)
            receiveTimeoutShortened = false
        }
    }

    /// Records a lost connection: it is closed, and the next attempt waits longer.
    public func failed() {
        socket?.close()
        socket = nil
        pendingReplies = 0
        consecutiveFailures += 1
        nextAttempt = clock.nanoseconds() &+ settings.backoff.delayNanoseconds(afterFailures: consecutiveFailures)
    }

    /// Records that the server answered: the next reconnection is immediate.
    public func succeeded() {
        consecutiveFailures = 0
        nextAttempt = 0
    }

    /// Closes the connection.
    public func close() {
        socket?.close()
        socket = nil
        pendingReplies = 0
    }

    // MARK: Requests

    /// Queues `get key` (or `gets key` with `cas: true`, which also returns the item's CAS unique).
    public func queueGet(_ key: UnsafeRawBufferPointer, cas: Bool = false) throws(SocketError) {
        let s = try open()
        if cas { s.write("gets ") } else { s.write("get ") }
        s.write(key)
        s.write("\r\n")
        pendingReplies += 1
    }

    /// Queues `set key 0 0 n` with `value` (or `cas key 0 0 n unique` when `casUnique` is given).
    public func queueSet(_ key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, casUnique: UInt64? = nil) throws(SocketError) {
        let s = try open()
        if casUnique != nil { s.write("cas ") } else { s.write("set ") }
        s.write(key)
        s.write(" 0 0 ")
        s.writeDecimal(value.count)
        if let casUnique {
            s.write(" ")
            s.writeDecimal(casUnique)
        }
        s.write("\r\n")
        s.write(value)
        s.write("\r\n")
        pendingReplies += 1
    }

    /// Queues `delete key`.
    public func queueDelete(_ key: UnsafeRawBufferPointer) throws(SocketError) {
        let s = try open()
        s.write("delete ")
        s.write(key)
        s.write("\r\n")
        pendingReplies += 1
    }

    /// Sends what is queued.
    public func flush() throws(SocketError) {
        guard let s = socket, s.isOpen else { throw .closed(endpoint: endpoint.description) }
        try s.flush()
    }

    // MARK: Replies

    private func replySocket() throws(SocketError) -> BlockingSocket {
        guard let s = socket, s.isOpen else { throw .closed(endpoint: endpoint.description) }
        try s.flush()
        if waitLimit != nil || receiveTimeoutShortened { try boundReceiveTimeout(s) }
        if pendingReplies > 0 { pendingReplies -= 1 }
        return s
    }

    /// Reads the reply of a `get`/`gets`: `body` gets the value (nil for a miss) and its CAS
    /// unique (0 for a plain `get`). - Throws: a transport failure, or `.protocolViolation`.
    public func readGet<R>(_ body: (UnsafeRawBufferPointer?, UInt64) -> R) throws(SocketError) -> R {
        let s = try replySocket()
        // "VALUE <key> <flags> <bytes> [<cas unique>]" or "END".
        let header: MemcachedValueHeader? = try s.readLine { line throws(SocketError) in
            if line.equals("END") { return nil }
            guard let header = MemcachedValueHeader(line), header.length <= Self.maximumValueLength else {
                throw self.violation("VALUE <key> <flags> <bytes> or END", line)
            }
            return header
        }
        guard let header else { return body(nil, 0) }
        let result = try s.readExactly(header.length + 2) { data in body(UnsafeRawBufferPointer(rebasing: data[0..<header.length]), header.cas) }
        try s.readLine { line throws(SocketError) in
            guard line.equals("END") else { throw self.violation("END after the value", line) }
        }
        return result
    }

    /// Reads the reply of a `set` or `cas`.
    public func readStore() throws(SocketError) -> MemcachedStoreResult {
        try replySocket().readLine { line -> MemcachedStoreResult in
            if line.equals("STORED") { return .stored }
            if line.equals("EXISTS") { return .exists }
            if line.equals("NOT_FOUND") { return .notFound }
            return .error(String(decoding: line, as: UTF8.self))
        }
    }

    /// Reads the reply of a `delete`: true for `DELETED`, false for `NOT_FOUND`.
    public func readDelete() throws(SocketError) -> Bool {
        try replySocket().readLine { line throws(SocketError) -> Bool in
            if line.equals("DELETED") { return true }
            if line.equals("NOT_FOUND") { return false }
            throw self.violation("DELETED or NOT_FOUND", line)
        }
    }

    private func violation(_ expected: String, _ line: UnsafeRawBufferPointer) -> SocketError {
        socket?.close()
        return .protocolViolation(endpoint: endpoint.description, expected: expected,
                                  found: String(decoding: line.prefix(80), as: UTF8.self))
    }

    // MARK: Conveniences

    /// `get` (or `gets`) of one key: the value and CAS unique, nil if missing.
    public func get(_ key: [UInt8], cas: Bool = false) throws(SocketError) -> (value: [UInt8], cas: UInt64)? {
        try withBytes(key) { k throws(SocketError) in try queueGet(k, cas: cas) }
        return try readGet { value, unique in value.map { (Array($0), unique) } }
    }

    /// `set`, or `cas` with `casUnique`.
    public func set(_ key: [UInt8], _ value: [UInt8], casUnique: UInt64? = nil) throws(SocketError) -> MemcachedStoreResult {
        try withBytes(key) { k throws(SocketError) in
            try withBytes(value) { v throws(SocketError) in try queueSet(k, value: v, casUnique: casUnique) }
        }
        return try readStore()
    }

    /// `delete`: whether the key existed.
    public func delete(_ key: [UInt8]) throws(SocketError) -> Bool {
        try withBytes(key) { k throws(SocketError) in try queueDelete(k) }
        return try readDelete()
    }
}

/// The header line of one item in a `get`/`gets` reply: `VALUE <key> <flags> <bytes> [<cas unique>]`.
///
/// Parsed in place over the read buffer, word by word: splitting the line into an array of
/// slices allocated on every read and was the largest cost of the driver's reads in callgrind.
struct MemcachedValueHeader: Equatable {
    /// The value's length in bytes (the data block that follows, without its `\r\n`).
    var length: Int
    /// The CAS unique (`gets`), 0 when the line has none (`get`).
    var cas: UInt64

    /// Parses `line` (without its `\r\n`); nil unless it is `VALUE`, a key, decimal flags, a
    /// decimal length and optionally a decimal CAS unique, separated by single spaces (as
    /// memcached writes them).
    init?(_ line: UnsafeRawBufferPointer) {
        // One pass over the bytes through a raw pointer: the first version (nested word
        // function, bounds-checked subscripts) cost ~600 instructions per header in callgrind.
        let count = line.count
        guard count >= 11, let p = line.baseAddress, memcmp(p, "VALUE ", 6) == 0 else { return nil }
        var at = 6
        // The key: any bytes up to the next space.
        let keyStart = at
        while at < count && p.load(fromByteOffset: at, as: UInt8.self) != 0x20 { at += 1 }
        guard at > keyStart else { return nil }
        /// The decimal number after the space at `at`, moving `at` past it; nil if absent or over `limit`.
        func number() -> UInt64? {
            guard at < count, p.load(fromByteOffset: at, as: UInt8.self) == 0x20 else { return nil }
            at += 1
            let from = at
            var v: UInt64 = 0
            while at < count {
                let b = p.load(fromByteOffset: at, as: UInt8.self)
                if b == 0x20 { break }
                guard b >= 48 && b <= 57 else { return nil }
                let (tens, o1) = v.multipliedReportingOverflow(by: 10)
                let (sum, o2) = tens.addingReportingOverflow(UInt64(b - 48))
                guard !o1 && !o2 else { return nil }
                v = sum
                at += 1
            }
            return at > from ? v : nil
        }
        guard number() != nil, let length = number(), length <= UInt64(Int.max) else { return nil }
        self.length = Int(length)
        if at == count {
            cas = 0
        } else {
            guard let unique = number(), at == count else { return nil }
            cas = unique
        }
    }
}

/// `body` over `bytes`, keeping `SocketError` typed (Array's `withUnsafeBytes` rethrows untyped).
func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R) throws(SocketError) -> R {
    do {
        return try bytes.withUnsafeBytes { try body($0) }
    } catch {
        throw error as! SocketError
    }
}
