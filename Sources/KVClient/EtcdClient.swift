// A blocking etcd v3 client over etcd's JSON gateway (HTTP/1.1 keep-alive), with failover between members.

import Foundation

/// A parsed `etcd://host:port[,host:port...]` target (port 2379 by default).
public struct EtcdURL: Sendable, Hashable {
    public var endpoints: [RedisEndpoint]

    public init(_ url: String) throws(RESPClientError) {
        guard url.hasPrefix("etcd://") else { throw .invalidURL(url, reason: "expected etcd://host:port[,host:port...]") }
        var rest = Substring(url.dropFirst("etcd://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/") && !rest.contains("@") else { throw .invalidURL(url, reason: "expected host:port[,host:port...] with no path or credentials") }
        var list: [RedisEndpoint] = []
        for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
            var host = String(part)
            var port = 2379
            if let colon = part.lastIndex(of: ":") {
                guard let p = Int(part[part.index(after: colon)...]), (1...65535).contains(p) else {
                    throw .invalidURL(url, reason: "port '\(part[part.index(after: colon)...])' is not in 1...65535")
                }
                port = p
                host = String(part[..<colon])
            }
            guard !host.isEmpty else { throw .invalidURL(url, reason: "missing host in '\(part)'") }
            list.append(RedisEndpoint(host: host, port: port))
        }
        guard !list.isEmpty else { throw .invalidURL(url, reason: "missing host") }
        endpoints = list
    }
}

/// Why an etcd request failed.
public enum EtcdError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No member could be reached: the request was not sent anywhere (it certainly did not happen).
    case unreachable(String)
    /// The request was sent but its answer was lost (connection closed, timeout) or the server
    /// said it could not tell (`Unavailable`: no leader, leader changed, request timed out):
    /// a write may or may not have taken effect.
    case indeterminate(String)
    /// The server refused the request (it did not take effect): gRPC `code`, its message.
    case rejected(code: Int, message: String)
    /// The reply was not the JSON expected.
    case malformed(endpoint: String, expected: String, found: String)

    public var description: String {
        switch self {
        case .unreachable(let m): return "no etcd member reachable: \(m)"
        case .indeterminate(let m): return "outcome unknown: \(m)"
        case let .rejected(code, m): return "etcd refused the request (gRPC code \(code)): \(m)"
        case let .malformed(e, expected, found): return "malformed reply from \(e): expected \(expected), found \(found)"
        }
    }

    /// Whether the request may have taken effect.
    public var mayHaveTakenEffect: Bool {
        if case .indeterminate = self { return true }
        if case .malformed = self { return true }
        return false
    }
}

/// A key-value pair etcd returned, with its revisions.
public struct EtcdKeyValue: Sendable, Equatable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var modRevision: Int64
    public var createRevision: Int64
}

/// What a compare-and-set transaction compares before its put.
public enum EtcdCondition: Sendable, Equatable {
    /// The key's value equals these bytes.
    case valueEquals([UInt8])
    /// The key's last modification is at this revision.
    case modRevisionEquals(Int64)
    /// The key does not exist (its create revision is 0).
    case absent
}

/// etcd's v3 KV API through its JSON gateway (`POST /v3/kv/range|put|deleterange|txn`, keys and
/// values base64), one keep-alive HTTP/1.1 connection at a time.
///
/// Why the gateway and not gRPC (grpc-swift-2 is mirrored here): it needs no generated
/// protobuf code and no HTTP/2 stack in the build (gRPC adds minutes to every clean build on
/// two cores), and it is served by every etcd 3.4 member on its client port. It costs a
/// JSON encode/decode and the gateway's own loopback gRPC hop inside etcd per request; see
/// results/etcd-memcached.md for what that costs.
///
/// Failover: requests go to the current member; if it cannot be reached the client moves to the
/// next one at once (nothing was sent). A read whose answer is lost or that the member could not
/// serve (no leader) is retried on the next member (a read changes nothing); a write in that case
/// throws `.indeterminate` and the next request goes to the next member — the caller decides
/// (the driver counts ERROR, a history records `info`). Not thread-safe: one thread owns it.
public final class EtcdClient {
    public let endpoints: [RedisEndpoint]
    public let settings: ConnectionSettings
    let clock: any ClientClock
    /// Index of the member requests go to.
    public private(set) var current = 0
    private var socket: BlockingSocket?
    private var consecutiveFailures = 0
    /// Times the client moved to another member.
    public private(set) var failovers = 0
    private var body: [UInt8] = []
    private var responseBody: [UInt8] = []
    /// The largest response body accepted (a Content-Length or the chunks' total).
    public static let maximumBodyLength = 1 << 30

    /// Does not connect: the first request does (to the first reachable member).
    public init(endpoints: [RedisEndpoint], settings: ConnectionSettings = ConnectionSettings(),
                clock: any ClientClock = SystemClientClock(), startingAt first: Int = 0) {
        precondition(!endpoints.isEmpty, "an etcd client needs at least one endpoint")
        self.endpoints = endpoints
        self.settings = settings
        self.clock = clock
        current = first % endpoints.count
    }

    /// Closes the connection.
    public func close() {
        socket?.close()
        socket = nil
    }

    private func moveToNextMember() {
        socket?.close()
        socket = nil
        current = (current + 1) % endpoints.count
        failovers += 1
    }

    // MARK: The KV API

    /// Reads `key` (or, with `rangeEnd`, the keys in [key, rangeEnd); `[0]` means every key
    /// from `key` on), at most `limit` pairs (0 = no limit). `serializable` reads answer from the
    /// member's local state (possibly stale); otherwise etcd confirms with a quorum first.
    public func range(_ key: [UInt8], rangeEnd: [UInt8]? = nil, limit: Int = 0, serializable: Bool = false) throws(EtcdError) -> [EtcdKeyValue] {
        var json = "{\"key\":\"\(base64(key))\""
        if let rangeEnd { json += ",\"range_end\":\"\(base64(rangeEnd))\"" }
        if limit > 0 { json += ",\"limit\":\(limit)" }
        if serializable { json += ",\"serializable\":true" }
        json += "}"
        let reply = try request("/v3/kv/range", json, idempotent: true)
        guard let kvs = reply["kvs"] else { return [] }
        guard let list = kvs as? [Any] else { throw malformed("kvs as a list", reply) }
        var result: [EtcdKeyValue] = []
        result.reserveCapacity(list.count)
        for item in list {
            guard let kv = item as? [String: Any], let k = decode64(kv["key"]) else { throw malformed("kvs entries with key", reply) }
            result.append(EtcdKeyValue(key: k, value: decode64(kv["value"]) ?? [], modRevision: int64(kv["mod_revision"]),
                                       createRevision: int64(kv["create_revision"])))
        }
        return result
    }

    /// Writes `value` under `key`; returns the revision of the write.
    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(EtcdError) -> Int64 {
        let reply = try request("/v3/kv/put", "{\"key\":\"\(base64(key))\",\"value\":\"\(base64(value))\"}", idempotent: false)
        return revision(of: reply)
    }

    /// Deletes `key`; returns how many keys were deleted (0 or 1).
    @discardableResult
    public func delete(_ key: [UInt8]) throws(EtcdError) -> Int {
        let reply = try request("/v3/kv/deleterange", "{\"key\":\"\(base64(key))\"}", idempotent: false)
        return Int(int64(reply["deleted"]))
    }

    /// A transaction: if `condition` holds for `key`, put `value` there. Returns whether it
    /// held (and the put happened).
    public func compareAndPut(_ key: [UInt8], _ condition: EtcdCondition, _ value: [UInt8]) throws(EtcdError) -> Bool {
        let k = base64(key)
        let compare: String
        switch condition {
        case .valueEquals(let old): compare = "{\"key\":\"\(k)\",\"target\":\"VALUE\",\"result\":\"EQUAL\",\"value\":\"\(base64(old))\"}"
        case .modRevisionEquals(let r): compare = "{\"key\":\"\(k)\",\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":\"\(r)\"}"
        case .absent: compare = "{\"key\":\"\(k)\",\"target\":\"CREATE\",\"result\":\"EQUAL\",\"create_revision\":\"0\"}"
        }
        let json = "{\"compare\":[\(compare)],\"success\":[{\"request_put\":{\"key\":\"\(k)\",\"value\":\"\(base64(value))\"}}]}"
        let reply = try request("/v3/kv/txn", json, idempotent: false)
        return (reply["succeeded"] as? Bool) ?? false
    }

    /// The member's status (`POST /v3/maintenance/status`): its leader's member id and its own.
    public func status() throws(EtcdError) -> (leader: UInt64, member: UInt64) {
        let reply = try request("/v3/maintenance/status", "{}", idempotent: true)
        let header = reply["header"] as? [String: Any] ?? [:]
        // Member ids are uint64, often above Int64.max: parsed unsigned.
        func unsigned(_ value: Any?) -> UInt64 { (value as? String).flatMap { UInt64($0) } ?? 0 }
        return (unsigned(reply["leader"]), unsigned(header["member_id"]))
    }

    /// The member's raft position as `/v3/maintenance/status` reports it.
    public struct MemberStatus: Sendable, Equatable {
        /// The leader's member id as this member knows it (0: none).
        public var leader: UInt64
        /// This member's id.
        public var member: UInt64
        /// The index of the last raft entry this member has (it stops growing when the member
        /// is cut off from the leader).
        public var raftIndex: UInt64
        public var raftTerm: UInt64
    }

    /// The member's status with its raft index and term (`etcdctl endpoint status`'s figures).
    public func memberStatus() throws(EtcdError) -> MemberStatus {
        let reply = try request("/v3/maintenance/status", "{}", idempotent: true)
        let header = reply["header"] as? [String: Any] ?? [:]
        func unsigned(_ value: Any?) -> UInt64 { (value as? String).flatMap { UInt64($0) } ?? 0 }
        return MemberStatus(leader: unsigned(reply["leader"]), member: unsigned(header["member_id"]),
                            raftIndex: unsigned(reply["raftIndex"] ?? reply["raft_index"]),
                            raftTerm: unsigned(reply["raftTerm"] ?? reply["raft_term"]))
    }

    // MARK: HTTP

    private func malformed(_ expected: String, _ reply: [String: Any]) -> EtcdError {
        .malformed(endpoint: endpoints[current].description, expected: expected, found: String(describing: reply).prefix(120).description)
    }

    private func revision(of reply: [String: Any]) -> Int64 {
        int64((reply["header"] as? [String: Any])?["revision"])
    }

    /// Sends one request, failing over as the type's documentation says; returns the decoded JSON object.
    private func request(_ path: String, _ json: String, idempotent: Bool) throws(EtcdError) -> [String: Any] {
        var unreachable: [String] = []
        var attempts = 0
        var sent = false
        // Every member once for connection failures; idempotent requests also retry once per
        // member on a lost answer or an unavailable member.
        while attempts < endpoints.count * (idempotent ? 2 : 1) {
            attempts += 1
            let endpoint = endpoints[current]
            let s: BlockingSocket
            if let open = socket, open.isOpen {
                s = open
            } else {
                do { s = try BlockingSocket(endpoint: endpoint, settings: settings) } catch {
                    unreachable.append(error.description)
                    moveToNextMember()
                    continue
                }
                socket = s
            }
            do {
                s.write("POST ")
                s.write(path)
                s.write(" HTTP/1.1\r\nHost: ")
                s.write(endpoint.description)
                s.write("\r\nContent-Type: application/json\r\nContent-Length: ")
                s.writeDecimal(json.utf8.count)
                s.write("\r\n\r\n")
                s.write(json)
                sent = true
                try s.flush()
                let status = try readResponse(s)
                let object = try parse(endpoint)
                if status == 200 {
                    consecutiveFailures = 0
                    return object
                }
                let code = Int(int64(object["code"]))
                let message = (object["message"] as? String) ?? (object["error"] as? String) ?? "HTTP \(status)"
                // gRPC Unavailable (14) / DeadlineExceeded (4): no leader, leader changed, request
                // timed out — a proposal may have been committed.
                if code == 14 || code == 4 || status == 503 {
                    moveToNextMember()
                    if idempotent { unreachable.append("\(endpoint): \(message)"); continue }
                    throw EtcdError.indeterminate("\(endpoint): \(message)")
                }
                throw EtcdError.rejected(code: code, message: message)
            } catch let error as EtcdError {
                throw error
            } catch {
                // The request left, its answer did not come back.
                moveToNextMember()
                if idempotent { unreachable.append("\(error)"); continue }
                throw EtcdError.indeterminate("\(endpoint): \(error)")
            }
        }
        // Every member failed: back off a little, so a client facing a cluster with no leader
        // does not spin.
        consecutiveFailures += 1
        clock.sleep(until: clock.nanoseconds() &+ settings.backoff.delayNanoseconds(afterFailures: consecutiveFailures))
        // A read that reached a member but got no usable answer is not "unreachable".
        if sent { throw .indeterminate(unreachable.last ?? "no member could serve the request") }
        throw .unreachable(unreachable.joined(separator: "; "))
    }

    /// Reads one HTTP response into `responseBody`; returns its status code.
    private func readResponse(_ s: BlockingSocket) throws -> Int {
        let statusCode: Int = try s.readLine { line throws(SocketError) in
            // "HTTP/1.1 200 OK"
            guard line.count >= 12, let code = UnsafeRawBufferPointer(rebasing: line[9..<12]).decimalValue else {
                throw SocketError.protocolViolation(endpoint: s.endpoint.description, expected: "an HTTP status line",
                                                    found: String(decoding: line.prefix(60), as: UTF8.self))
            }
            return code
        }
        var contentLength: Int? = nil
        var chunked = false
        var closeAfter = false
        while true {
            let done: Bool = try s.readLine { line in
                if line.isEmpty { return true }
                let text = String(decoding: line, as: UTF8.self).lowercased()
                if text.hasPrefix("content-length:") { contentLength = Int(text.dropFirst(15).trimmingCharacters(in: .whitespaces)) }
                else if text.hasPrefix("transfer-encoding:") && text.contains("chunked") { chunked = true }
                else if text.hasPrefix("connection:") && text.contains("close") { closeAfter = true }
                return false
            }
            if done { break }
        }
        responseBody.removeAll(keepingCapacity: true)
        if chunked {
            while true {
                let size: Int = try s.readLine { line in
                    let hex = String(decoding: line, as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                    return Int(hex.trimmingCharacters(in: .whitespaces), radix: 16) ?? -1
                }
                guard size >= 0, size <= Self.maximumBodyLength - responseBody.count else {
                    throw SocketError.protocolViolation(endpoint: s.endpoint.description, expected: "a hex chunk size with the body under \(Self.maximumBodyLength) bytes", found: String(size))
                }
                if size == 0 {
                    // Trailers, then the empty line.
                    while try s.readLine({ !$0.isEmpty }) {}
                    break
                }
                try s.readExactly(size + 2) { responseBody.append(contentsOf: $0.prefix(size)) }
            }
        } else if let contentLength {
            // A length from the network: negative or huge is a violation, not a crash or a giant buffer.
            guard contentLength >= 0, contentLength <= Self.maximumBodyLength else {
                throw SocketError.protocolViolation(endpoint: s.endpoint.description, expected: "a Content-Length in 0...\(Self.maximumBodyLength)",
                                                    found: String(contentLength))
            }
            try s.readExactly(contentLength) { responseBody.append(contentsOf: $0) }
        } else {
            throw SocketError.protocolViolation(endpoint: s.endpoint.description, expected: "Content-Length or chunked encoding", found: "neither")
        }
        if closeAfter { s.close() }
        return statusCode
    }

    private func parse(_ endpoint: RedisEndpoint) throws(EtcdError) -> [String: Any] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(responseBody))) as? [String: Any] else {
            throw .malformed(endpoint: endpoint.description, expected: "a JSON object",
                             found: String(decoding: responseBody.prefix(80), as: UTF8.self))
        }
        return object
    }
}

// MARK: Encoding helpers

private let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

/// Standard base64 with padding (what the gateway's JSON carries for bytes).
func base64(_ bytes: [UInt8]) -> String {
    var out = [UInt8]()
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var i = 0
    while i + 3 <= bytes.count {
        let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
        out.append(base64Alphabet[Int(n >> 18)]); out.append(base64Alphabet[Int(n >> 12 & 63)])
        out.append(base64Alphabet[Int(n >> 6 & 63)]); out.append(base64Alphabet[Int(n & 63)])
        i += 3
    }
    let rest = bytes.count - i
    if rest > 0 {
        let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
        out.append(base64Alphabet[Int(n >> 18)]); out.append(base64Alphabet[Int(n >> 12 & 63)])
        out.append(rest == 2 ? base64Alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
        out.append(UInt8(ascii: "="))
    }
    return String(decoding: out, as: UTF8.self)
}

private func decode64(_ value: Any?) -> [UInt8]? {
    guard let text = value as? String, let data = Data(base64Encoded: text) else { return nil }
    return Array(data)
}

/// proto3 JSON writes 64-bit integers as strings; absent means 0.
private func int64(_ value: Any?) -> Int64 {
    if let s = value as? String { return Int64(s) ?? 0 }
    if let n = value as? NSNumber { return n.int64Value }
    return 0
}
