// Several memcached connections of one driver thread, event-driven: poll(2) over their sockets, each reply completes its own operation.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KVClient
import Measurement
import Workload

/// memcached connections multiplexed as memcaslap and memtier drive them: an operation is queued
/// on its slot's connection and sent when the driver next polls (so a connection's new requests
/// of one loop pass share a send), and `poll` waits on every connection with requests in
/// flight and reads a reply from each one that became readable — so a connection's next request
/// goes out as soon as its own reply arrived, not when the slowest connection's did.
///
/// Slot `s` runs on connection `s / pipeline`; each connection keeps up to `pipeline` requests
/// in flight, answered in order. Replies are parsed by `MemcachedSession.readReply` (the
/// in-place VALUE header parser): a readable socket may hold only part of a reply, whose rest is
/// then read blocking (it is already on its way). A malformed reply or a lost connection fails
/// every operation in flight on that connection (ERROR) and closes it; its next request
/// reconnects after the backoff, as the synchronous session does.
final class MemcachedEventSession: MultiplexedTargetSession {
    let sessions: [MemcachedSession]
    let perConnection: Int
    let slots: Int
    /// How long a poll may wait for a reply before the connections waited on are failed.
    let ioTimeoutNanos: UInt64
    // @exclusivity(unchecked): one driver thread owns the session (as MemcachedSession).
    /// Per connection `c`, a ring of its in-flight operations at `c * perConnection ..<`: slot and kind.
    @exclusivity(unchecked) private var ringSlots: [Int]
    @exclusivity(unchecked) private var ringKinds: [Workload.OperationKind]
    @exclusivity(unchecked) private var head: [Int]
    @exclusivity(unchecked) private var count: [Int]
    /// Operations finished without a reply (connect or send failure), reported by the next poll.
    @exclusivity(unchecked) private var ready: [MultiplexedCompletion] = []
    @exclusivity(unchecked) private var fds: [pollfd]
    @exclusivity(unchecked) private var fdConnection: [Int]
    @exclusivity(unchecked) private var inFlight = 0
    /// Connections with requests queued but not sent yet (sent at the start of `poll`).
    @exclusivity(unchecked) private var unsent: [Bool]
    @exclusivity(unchecked) private var unsentConnections: [Int] = []

    init(_ sessions: [MemcachedSession]) {
        self.sessions = sessions
        perConnection = sessions[0].pipelineDepth
        slots = perConnection * sessions.count
        ioTimeoutNanos = UInt64(max(0.001, sessions[0].connection.settings.ioTimeoutSeconds) * 1e9)
        ringSlots = [Int](repeating: 0, count: slots)
        ringKinds = [Workload.OperationKind](repeating: .read, count: slots)
        head = [Int](repeating: 0, count: sessions.count)
        count = [Int](repeating: 0, count: sessions.count)
        fds = [pollfd](repeating: pollfd(fd: -1, events: 0, revents: 0), count: sessions.count)
        fdConnection = [Int](repeating: 0, count: sessions.count)
        unsent = [Bool](repeating: false, count: sessions.count)
        unsentConnections.reserveCapacity(sessions.count)
        ready.reserveCapacity(slots)
    }

    func submit(_ operation: PlannedOperation, slot: Int) -> Bool {
        let c = slot / perConnection
        let session = sessions[c]
        let queued: Bool
        do {
            queued = try session.queueRequest(operation)
        } catch {
            // The connection could not be (re)opened: nothing was queued.
            ready.append(MultiplexedCompletion(slot: slot, status: .error))
            return true
        }
        guard queued else { return false }
        let at = c * perConnection + (head[c] + count[c]) % perConnection
        ringSlots[at] = slot
        ringKinds[at] = operation.kind
        count[c] += 1
        inFlight += 1
        // Sent by the next poll, together with the connection's other new requests (one send
        // per connection and loop pass: with --pipeline P a send per request cost 3x the CPU).
        if !unsent[c] {
            unsent[c] = true
            unsentConnections.append(c)
        }
        return true
    }

    func poll(into completions: inout [MultiplexedCompletion], timeoutNanos: UInt64?) {
        // Requests are small: sent blocking.
        for c in unsentConnections {
            unsent[c] = false
            // A connection that failed since has no requests left to send.
            guard count[c] > 0 else { continue }
            do { try sessions[c].connection.flush() } catch { failConnection(c) }
        }
        unsentConnections.removeAll(keepingCapacity: true)
        if !ready.isEmpty {
            completions.append(contentsOf: ready)
            ready.removeAll(keepingCapacity: true)
            return
        }
        guard inFlight > 0 else { return }
        // Bytes already in a receive buffer are invisible to poll(2): read those replies first.
        var found = false
        for c in sessions.indices where count[c] > 0 && sessions[c].connection.hasBufferedReply {
            readReplies(c, into: &completions)
            found = true
        }
        if found { return }
        var n = 0
        for c in sessions.indices where count[c] > 0 {
            fds[n] = pollfd(fd: sessions[c].connection.fileDescriptor, events: Int16(POLLIN), revents: 0)
            fdConnection[n] = c
            n += 1
        }
        let limited = timeoutNanos.map { $0 < ioTimeoutNanos } ?? false
        let wait = limited ? timeoutNanos! : ioTimeoutNanos
        let milliseconds = Int32(clamping: (wait + 999_999) / 1_000_000)
        let ready = fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t(n), milliseconds) }
        if ready < 0 { return }          // EINTR: the driver polls again
        if ready == 0 {
            // No reply within the I/O timeout: those connections are dead to us.
            if !limited { for i in 0..<n { failConnection(fdConnection[i]) } ; completions.append(contentsOf: self.ready); self.ready.removeAll(keepingCapacity: true) }
            return
        }
        for i in 0..<n where fds[i].revents != 0 {
            readReplies(fdConnection[i], into: &completions)
        }
        if !self.ready.isEmpty {
            completions.append(contentsOf: self.ready)
            self.ready.removeAll(keepingCapacity: true)
        }
    }

    func idleSession(forSlot slot: Int) -> (any TargetSession)? {
        let c = slot / perConnection
        return count[c] == 0 ? sessions[c] : nil
    }

    /// Reads one reply of connection `c` (the socket is readable), then every further one whose
    /// bytes already arrived.
    private func readReplies(_ c: Int, into completions: inout [MultiplexedCompletion]) {
        let connection = sessions[c].connection
        repeat {
            let at = c * perConnection + head[c]
            let slot = ringSlots[at], kind = ringKinds[at]
            head[c] = (head[c] + 1) % perConnection
            count[c] -= 1
            inFlight -= 1
            do {
                completions.append(MultiplexedCompletion(slot: slot, status: try sessions[c].readReply(kind)))
            } catch {
                completions.append(MultiplexedCompletion(slot: slot, status: .error))
                failConnection(c)
                return
            }
        } while count[c] > 0 && connection.hasBufferedReply
        connection.succeeded()
    }

    /// Closes connection `c` and fails its operations in flight (their replies are lost).
    private func failConnection(_ c: Int) {
        sessions[c].connection.failed()
        while count[c] > 0 {
            ready.append(MultiplexedCompletion(slot: ringSlots[c * perConnection + head[c]], status: .error))
            head[c] = (head[c] + 1) % perConnection
            count[c] -= 1
            inFlight -= 1
        }
        head[c] = 0
    }

    // Synchronous operations (a verified read, a history) run on the first connection, as
    // MultiplexedSession did; the event loop itself uses `idleSession(forSlot:)`.
    func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus { sessions[0].read(operation, verifier: verifier) }
    func update(_ operation: PlannedOperation) -> OperationStatus { sessions[0].update(operation) }
    func insert(_ operation: PlannedOperation) -> OperationStatus { sessions[0].insert(operation) }
    func scan(_ operation: PlannedOperation) -> OperationStatus { sessions[0].scan(operation) }
    func delete(_ operation: PlannedOperation) -> OperationStatus { sessions[0].delete(operation) }
    func close() { for session in sessions { session.close() } }
}
