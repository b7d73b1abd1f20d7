// What a node's INFO says about replication: its role, its primary, its offset, its replicas.

import KVClient

/// The replication facts a sentinel reads from a node's `INFO server` + `INFO replication`
/// (Redis 7's field names; kvlab serve uses the same).
public struct NodeInfo: Sendable, Equatable {
    public enum Role: String, Sendable { case master, replica = "slave" }

    /// `run_id` (absent on servers that do not report one).
    public var runID: String?
    /// `role:master|slave`.
    public var role: Role?
    /// `master_host`/`master_port` on a replica.
    public var primary: RedisEndpoint?
    /// `master_link_status:up` on a replica.
    public var linkUp = false
    /// `master_link_down_since_seconds` on a replica whose link is down.
    public var linkDownSeconds: Int64?
    /// `slave_repl_offset` on a replica (what it has processed), `master_repl_offset` on a primary.
    public var offset: Int64 = 0
    /// `slave_priority` (or `replica_priority`); 100 when absent; 0 means never promote.
    public var priority = 100
    /// The `slaveN:ip=...,port=...` lines of a primary.
    public var replicas: [RedisEndpoint] = []

    /// Parses INFO text; unknown lines are ignored, and a reply without `role:` has role nil.
    public init(parsing text: String) {
        var primaryHost: String?
        var primaryPort: Int?
        for raw in text.split(whereSeparator: \.isNewline) {
            guard let colon = raw.firstIndex(of: ":") else { continue }
            let key = raw[..<colon]
            let value = String(raw[raw.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            switch key {
            case "run_id": runID = value
            case "role": role = Role(rawValue: value)
            case "master_host": primaryHost = value
            case "master_port": primaryPort = Int(value)
            case "master_link_status": linkUp = value == "up"
            // Bounded: the sentinel multiplies it by 1000, and a node's text must not trap it.
            case "master_link_down_since_seconds": linkDownSeconds = Int64(value).map { min(max($0, -1), Int64.max / 1000) }
            case "slave_repl_offset": offset = Int64(value) ?? offset
            case "master_repl_offset" where role != .replica: offset = Int64(value) ?? offset
            case "slave_priority", "replica_priority": priority = Int(value) ?? priority
            default:
                guard key.hasPrefix("slave"), key.dropFirst(5).allSatisfy(\.isNumber), !key.dropFirst(5).isEmpty else { continue }
                var host: String?
                var port: Int?
                for field in value.split(separator: ",") {
                    if field.hasPrefix("ip=") { host = String(field.dropFirst(3)) }
                    if field.hasPrefix("port=") { port = Int(field.dropFirst(5)) }
                }
                if let host, let port { replicas.append(RedisEndpoint(host: host, port: port)) }
            }
        }
        if let primaryHost, let primaryPort { primary = RedisEndpoint(host: primaryHost, port: primaryPort) }
    }

    public init() {}
}

extension String {
    func trimmingCharacters(in set: WhitespaceSet) -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// Spaces and tabs (this module avoids Foundation).
enum WhitespaceSet { case whitespaces }
