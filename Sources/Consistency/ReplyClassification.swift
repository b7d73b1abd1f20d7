// Which error replies mean "surely not applied" (fail) and which leave a write's effect unknown (info).

import History
import KVClient

/// How a client records a request whose answer was not a success, as Jepsen does: `fail` when
/// the request certainly had no effect, `info` when it may have had one.
///
/// The map, for a request that **writes** (write, cas, add):
///
/// | what came back | recorded | why |
/// |---|---|---|
/// | no connection could be made (resolve or connect failed) | `fail` | nothing was sent |
/// | the connection dropped or timed out before the write was sent | `fail` | nothing was sent |
/// | the connection dropped or timed out after the write was (partly) sent | `info` | it may have been applied |
/// | `-READONLY` (a replica refused it) | `fail` | refused before apply |
/// | `-NOREPLICAS Not enough good replicas to write.` (min-replicas fencing) | `fail` | Redis checks min-replicas before running the command |
/// | any other `-NOREPLICAS ...` (a sync-ack / WAIT timeout) | `info` | the write stays applied on the primary; only the replica count fell short |
/// | `-MOVED`, `-ASK`, `-TRYAGAIN`, `-CLUSTERDOWN`, `-LOADING`, `-MASTERDOWN`, `-BUSY`, `-NOSCRIPT`, `-NOAUTH`, `-WRONGPASS`, `-NOPERM`, `-WRONGTYPE`, `-OOM`, `-EXECABORT`, `-ERR unknown command`, `-ERR wrong number of arguments`, `-ERR syntax error` | `fail` | refused before the command ran |
/// | any other error (e.g. `-ERR Error running script`) | `info` | it may have run part-way |
///
/// A **read** that gets any error reply is `fail` (a read changes nothing); a read whose
/// connection drops or times out is `info`, like every timed-out request, so an availability
/// count sees it as a timeout (an `info` read constrains nothing in the checker).
public enum ReplyClassification {
    /// The outcome of a request that received the error reply `message` (without the `-`).
    /// - Parameters:
    ///   - message: the error reply's text, e.g. `READONLY You can't write against a read only replica.`
    ///   - writes: whether the request writes (a read's error is always `fail`).
    public static func outcome(ofError message: String, writes: Bool) -> Event.Kind {
        guard writes else { return .fail }
        return ErrorReplyClassification.surelyNotApplied(message) ? .fail : .info
    }
}
