// Whether a Redis error reply means the command surely did not run (a refusal) or may have run.

/// Reads Redis error replies for history recording: a write refused *before* it ran (a replica's
/// `READONLY`, min-replicas fencing's `NOREPLICAS Not enough good replicas to write.`, a cluster
/// redirect, ...) surely had no effect and is a Jepsen `fail`; any other error, like a sync-ack
/// timeout after the write was applied, leaves the effect unknown (`info`).
public enum ErrorReplyClassification {
    /// Error codes (the reply's first word) that mean the server refused the command before running it.
    public static let refusedCodes: Set<Substring> = [
        "READONLY", "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "BUSY", "NOSCRIPT",
        "NOAUTH", "WRONGPASS", "NOPERM", "WRONGTYPE", "OOM", "EXECABORT", "CROSSSLOT",
    ]

    /// Redis's min-replicas refusal, word for word (`shared.noreplicaserr` in server.c).
    public static let minReplicasRefusal = "NOREPLICAS Not enough good replicas to write."

    /// Whether a write that got the error reply `message` (its text, without the `-`) surely
    /// did not take effect. `NOREPLICAS` counts as a refusal only in Redis's min-replicas
    /// wording; any other `NOREPLICAS` (a sync-ack timeout) is after the write was applied.
    public static func surelyNotApplied(_ message: some StringProtocol) -> Bool {
        let code = message.prefix { $0 != " " }
        if code == "NOREPLICAS" { return message.hasPrefix(minReplicasRefusal) }
        if refusedCodes.contains(Substring(code)) { return true }
        if code == "ERR" {
            let rest = message.dropFirst(4).lowercased()
            return rest.hasPrefix("unknown command") || rest.hasPrefix("wrong number of arguments") || rest.hasPrefix("syntax error")
        }
        return false
    }
}
