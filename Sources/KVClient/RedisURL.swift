// Parsing driver targets: redis://[:password@]host:port, redis-cluster://[:password@]host:port[,host:port...],
// sentinel://[:password@]host:port[,host:port...]/NAME and ring://host:port,...?options.

/// A parsed `redis://`, `redis-cluster://`, `sentinel://` or `ring://` target.
public struct RedisTarget: Sendable, Hashable {
    /// The server, the cluster's seed nodes, or the sentinels.
    public var endpoints: [RedisEndpoint]
    public var password: String?
    public var cluster: Bool
    /// For `sentinel://`: the monitored group whose primary the sentinels (`endpoints`) name.
    public var sentinelMasterName: String? = nil
    /// For `ring://`: how keys are routed over `endpoints` (see `ShardTargetOptions`).
    public var shard: ShardTargetOptions?

    /// Parses `redis://[[user]:password@]host[:port]` (port 6379 by default),
    /// `redis-cluster://[:password@]host:port[,host:port...]` (seed nodes),
    /// `sentinel://[:password@]host:port[,host:port...]/NAME` (sentinels, port 26379 by default,
    /// and the group's name; the password is the data nodes'), or
    /// `ring://[:password@]host:port,host:port...[?query]` (see `ShardTargetOptions`).
    public init(url: String) throws(RESPClientError) {
        let scheme: String
        var defaultPort = 6379
        shard = nil
        if url.hasPrefix("redis://") { scheme = "redis://"; cluster = false }
        else if url.hasPrefix("redis-cluster://") { scheme = "redis-cluster://"; cluster = true }
        else if url.hasPrefix("sentinel://") { scheme = "sentinel://"; cluster = false; defaultPort = 26379 }
        else if url.hasPrefix("ring://") { scheme = "ring://"; cluster = false }
        else { throw .invalidURL(url, reason: "expected redis://host:port, redis-cluster://host:port, sentinel://host:port,host:port/NAME or ring://host:port,host:port") }
        var rest = Substring(url.dropFirst(scheme.count))
        if scheme == "sentinel://" {
            guard let slash = rest.lastIndex(of: "/"), !rest[rest.index(after: slash)...].isEmpty else {
                throw .invalidURL(url, reason: "expected the monitored group's name after the sentinels: sentinel://host:port,host:port/NAME")
            }
            sentinelMasterName = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        if scheme == "ring://" {
            var query: Substring = ""
            if let q = rest.firstIndex(of: "?") {
                query = rest[rest.index(after: q)...]
                rest = rest[..<q]
            }
            shard = try ShardTargetOptions(query: query, url: url)
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            guard db.isEmpty || db == "0" else { throw .invalidURL(url, reason: "only database 0 is supported") }
            rest = rest[..<slash]
        }
        password = nil
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let p = String(credentials[credentials.index(after: colon)...])
                password = p.removingPercentEncodingIfPossible
            } else {
                password = String(credentials)
            }
        }
        var list: [RedisEndpoint] = []
        for part in rest.split(separator: ",") {
            var host = String(part)
            var port = defaultPort
            if let colon = part.lastIndex(of: ":") {
                guard let p = Int(part[part.index(after: colon)...]), (1...65535).contains(p) else {
                    throw .invalidURL(url, reason: "port '\(part[part.index(after: colon)...])' is not in 1...65535")
                }
                port = p
                host = String(part[..<colon])
            }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw .invalidURL(url, reason: "missing host") }
            list.append(RedisEndpoint(host: host, port: port))
        }
        guard !list.isEmpty else { throw .invalidURL(url, reason: "missing host") }
        guard cluster || sentinelMasterName != nil || shard != nil || list.count == 1 else {
            throw .invalidURL(url, reason: "several hosts need redis-cluster://, ring:// or sentinel://.../NAME")
        }
        if let shard {
            // A topology file's node lists carry no weights, and `kvlab reshard` places keys
            // unweighted: weights here would route differently from the file and the resharder.
            if shard.weights != nil, shard.topologyFile != nil {
                throw .invalidURL(url, reason: "weights= with topology=: a topology file routes unweighted (as kvlab reshard copies), so the two cannot be combined")
            }
            if let weights = shard.weights, weights.count != list.count {
                throw .invalidURL(url, reason: "weights=: \(weights.count) weights for \(list.count) hosts, expected one per host")
            }
            do { _ = try shard.router.makeRouter(nodes: list.map(\.description), weights: shard.weights) } catch {
                throw .invalidURL(url, reason: error.description)
            }
        }
        endpoints = list
    }
}

extension String {
    /// `%xx` escapes decoded (passwords in URLs), or the string unchanged if malformed.
    var removingPercentEncodingIfPossible: String {
        guard contains("%") else { return self }
        var out: [UInt8] = []
        var bytes = Array(utf8)[...]
        while let b = bytes.first {
            bytes = bytes.dropFirst()
            if b == UInt8(ascii: "%"), bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
