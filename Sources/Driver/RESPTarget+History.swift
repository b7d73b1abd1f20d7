// Recording a history over the network: whole-record digests of what is read and written, and what a failure means.

import History
import Measurement
import KVClient
import RESP
import Workload

/// With `computesDigests` on, a RESP session runs each operation in its own round trip and
/// reports the `ValueDigest` of the whole record read or written, as the in-process target
/// does, so `kvlab run --history` checks the same way against a server:
///
/// - the digest is that of the record's `RecordCodec` encoding (fields in index order): the
///   string mapping's stored value as it is; the hash mapping's HGETALL reply re-encoded;
/// - a read fetches the whole record (HGETALL or GET) even when the workload reads one field;
/// - an insert, and an update of every field, know the record they write before sending it,
///   so even an indeterminate one is recorded with its digest;
/// - an update of some fields is, in the string mapping, GET + merge + SET (the digest of the
///   merged record, as in process); in the hash mapping, `MULTI HMSET HGETALL EXEC` against one
///   server, so the record it produced comes back atomically. If that transaction's reply is
///   lost, the resulting record is unknown and the write is recorded with no value: later reads
///   of that key cannot be matched to it, so the checker may report them (use the string mapping
///   or `writeallfields=true` for runs with faults). Redis Cluster cannot route MULTI: there,
///   partial hash updates are refused (`lastFailure = .refused`, never sent).
///
/// `lastFailure` tells a refused or unsent write (`fail`) from one lost in flight (`info`); see
/// `ErrorReplyClassification` for which error replies are refusals.
extension RESPSession {
    /// Runs `commands` (already queued with `send()`), reading one reply per command.
    /// - Returns: the replies, or nil with `lastFailure` set when the transport failed.
    private func exchange(count: Int) -> [RESPValue]? {
        var replies: [RESPValue] = []
        replies.reserveCapacity(count)
        do {
            for _ in 0..<count { replies.append(try nextReply()) }
        } catch {
            lastFailure = .lostInFlight
            transportFailed()
            return nil
        }
        transportAnswered()
        return replies
    }

    /// Queues the command built in `command`; false (with `lastFailure = .notSent`) if no
    /// connection could be made.
    private func queue() -> Bool {
        do {
            try send()
            return true
        } catch {
            lastFailure = .notSent
            return false
        }
    }

    /// The status of an error reply, noting whether it was a refusal.
    private func failed(_ reply: RESPValue) -> OperationStatus? {
        switch reply {
        case .error(let message), .bulkError(let message):
            lastFailure = ErrorReplyClassification.surelyNotApplied(message) ? .refused : .otherError
            return .error
        default:
            return nil
        }
    }

    /// Field (index, bytes) pairs from an HGETALL reply (or an EXEC's HGETALL element), in index order.
    private func fields(ofHash reply: RESPValue) -> [(index: Int, value: [UInt8])]? {
        guard let items = reply.elements else { return nil }
        var fields: [(index: Int, value: [UInt8])] = []
        fields.reserveCapacity(items.count / 2)
        var i = 0
        while i + 1 < items.count {
            guard let name = items[i].bytes, let value = items[i + 1].bytes,
                  let index = fieldNames.firstIndex(of: name) else { return nil }
            fields.append((index, value))
            i += 2
        }
        fields.sort { $0.index < $1.index }
        return fields
    }

    /// Whether a read of `selection` covers field `index`.
    static func selects(_ selection: FieldSelection, _ index: Int) -> Bool {
        if case .one(let field) = selection { return field == index }
        return selection != .none
    }

    private func digest(of fields: [(index: Int, value: [UInt8])]) -> UInt64 {
        RecordCodec.encode(fields, into: &buffer)
        return buffer.withUnsafeBytes { ValueDigest.of($0) }
    }

    /// A read of the whole record, digested (and verified under `dataintegrity`).
    func recordedRead(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus {
        lastDigest = nil
        lastFailure = .otherError
        begin(mapping == .hash ? "HGETALL" : "GET")
        command.append(operation.key)
        guard queue(), let reply = exchange(count: 1)?.first else { return .error }
        if let status = failed(reply) { return status }
        var oneField = false
        if case .one = operation.readFields { oneField = true }
        switch mapping {
        case .hash:
            guard let fields = fields(ofHash: reply) else { return .error }
            if fields.isEmpty { return mapped(.notFound, kind: .read, oneField: oneField) }
            if let verifier {
                verifier.begin()
                for f in fields where Self.selects(operation.readFields, f.index) {
                    f.value.withUnsafeBytes { verifier.check(key: operation.key, field: f.index, value: $0) }
                }
                if case .one = operation.readFields {} else if fields.count != fieldNames.count { verifier.fail() }
            }
            lastDigest = digest(of: fields)
            return .ok
        case .string:
            if reply.isNull { return mapped(.notFound, kind: .read) }
            guard let record = reply.bytes else { return .error }
            return record.withUnsafeBytes { raw -> OperationStatus in
                guard (try? RecordCodec.validate(raw)) != nil else { return .error }
                if let verifier {
                    verifier.begin()
                    var seen = 0
                    try? RecordCodec.forEachField(in: raw) { field in
                        guard Self.selects(operation.readFields, field.index) else { return }
                        seen += 1
                        verifier.check(key: operation.key, field: field.index, value: field.value)
                    }
                    if case .one = operation.readFields {} else if seen != fieldNames.count { verifier.fail() }
                }
                lastDigest = ValueDigest.of(raw)
                return .ok
            }
        }
    }

    /// An insert or update, with the digest of the record it leaves.
    func recordedWrite(_ operation: PlannedOperation) -> OperationStatus {
        lastDigest = nil
        lastFailure = .otherError
        let whole = operation.kind == .insert || operation.writeFields.count == fieldNames.count
        switch (mapping, whole) {
        case (.string, true):
            RecordCodec.encode(operation, into: &buffer)
            lastDigest = buffer.withUnsafeBytes { ValueDigest.of($0) }
            begin("SET")
            command.append(operation.key)
            buffer.withUnsafeBytes { command.append($0) }
            guard queue(), let reply = exchange(count: 1)?.first else { return .error }
            if let status = failed(reply) { return status }
            return reply == .simpleString("OK") ? .ok : .error
        case (.string, false):
            begin("GET")
            command.append(operation.key)
            guard queue(), let existing = exchange(count: 1)?.first else {
                // The SET was never sent: the update surely did not happen.
                lastFailure = .notSent
                return .error
            }
            if let status = failed(existing) { lastFailure = .notSent; return status }
            guard let record = existing.bytes else { return mapped(.notFound, kind: .update) }
            let merged = record.withUnsafeBytes { raw in (try? RecordCodec.merge(existing: raw, update: operation, into: &buffer)) != nil }
            guard merged else { lastFailure = .notSent; return .error }
            lastDigest = buffer.withUnsafeBytes { ValueDigest.of($0) }
            begin("SET")
            command.append(operation.key)
            buffer.withUnsafeBytes { command.append($0) }
            guard queue(), let reply = exchange(count: 1)?.first else { return .error }
            if let status = failed(reply) { return status }
            return reply == .simpleString("OK") ? .ok : .error
        case (.hash, true):
            RecordCodec.encode(operation, into: &buffer)
            lastDigest = buffer.withUnsafeBytes { ValueDigest.of($0) }
            begin("HMSET")
            command.append(operation.key)
            appendFields(operation)
            guard queue() else { return .error }
            var expected = 1
            if operation.kind == .insert && scanIndex {
                begin("ZADD")
                Self.indexKey.withUnsafeBytes { command.append($0) }
                scoreArgument(operation.key)
                command.append(operation.key)
                guard queue() else { lastFailure = .lostInFlight; return .error }
                expected = 2
            }
            guard let replies = exchange(count: expected) else { return .error }
            if let status = failed(replies[0]) { return status }
            if expected == 2, let status = failed(replies[1]) { lastFailure = .otherError; return status }
            return replies[0] == .simpleString("OK") ? .ok : .error
        case (.hash, false):
            guard case .single = link else {
                lastFailure = .refused
                return .error
            }
            begin("MULTI")
            guard queue() else { return .error }
            begin("HMSET")
            command.append(operation.key)
            appendFields(operation)
            _ = queue()
            begin("HGETALL")
            command.append(operation.key)
            _ = queue()
            begin("EXEC")
            _ = queue()
            guard let replies = exchange(count: 4) else { return .error }
            if let status = failed(replies[0]) { return status }
            if let status = failed(replies[3]) { return status }
            guard let results = replies[3].elements, results.count == 2 else {
                // A null EXEC (aborted) ran nothing.
                if replies[3].isNull { lastFailure = .refused }
                return .error
            }
            if let status = failed(results[0]) { return status }
            guard let fields = fields(ofHash: results[1]) else { return .error }
            lastDigest = digest(of: fields)
            return .ok
        }
    }

    /// A delete (DEL, and ZREM from the scan index).
    func recordedDelete(_ operation: PlannedOperation) -> OperationStatus {
        lastDigest = nil
        lastFailure = .otherError
        begin("DEL")
        command.append(operation.key)
        guard queue() else { return .error }
        var expected = 1
        if mapping == .hash && scanIndex {
            begin("ZREM")
            Self.indexKey.withUnsafeBytes { command.append($0) }
            command.append(operation.key)
            guard queue() else { lastFailure = .lostInFlight; return .error }
            expected = 2
        }
        guard let replies = exchange(count: expected) else { return .error }
        if let status = failed(replies[0]) { return status }
        if expected == 2, let status = failed(replies[1]) { lastFailure = .otherError; return status }
        let removed = replies.contains { if case .integer(let n) = $0 { n > 0 } else { false } }
        return mapped(removed ? .ok : .notFound, kind: .delete)
    }
}
