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
/// every operation in flight on that connection (ERROR) and closes it. While a closed
/// connection backs off, its slots take no work (`nanosecondsUntilReady`): the driver waits for
/// the backoff's end alongside the other connections' replies, then the next request makes one
/// reconnection attempt — one failed operation per connection and backoff on a dead server, as
/// the synchronous session, without holding the other connections.
///
/// The I/O timeout runs per connection from its last progress (its first request sent, or its
/// last reply read): a poll cut short by the caller (deadline, status interval) fails nothing,
/// and repeated short polls do not keep a stalled connection alive.
final class MemcachedEventSession: MultiplexedTargetSession {
    let sessions: [MemcachedSession]
    let perConnection: Int
    let slots: Int
    /// How long a connection with requests in flight may go without a reply before it is failed.
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
    /// Per connection, when its requests in flight last made progress (on `clock`; 0: none in flight).
    @exclusivity(unchecked) private var waitingSince: [UInt64]
    /// The driver's bound on blocking waits (`limitSynchronousWaits`), absolute on `clock`.
    @exclusivity(unchecked) private var runLimit: UInt64?
    let clock: any ClientClock

    init(_ sessions: [MemcachedSession], clock: any ClientClock = SystemClientClock()) {
        self.sessions = sessions
        self.clock = clock
        waitingSince = [UInt64](repeating: 0, count: sessions.count)
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
        var now: UInt64 = 0
        for c in unsentConnections {
            unsent[c] = false
            // A connection that failed since has no requests left to send.
            guard count[c] > 0 else { continue }
            do {
                try sessions[c].connection.flush()
                if waitingSince[c] == 0 {
                    if now == 0 { now = clock.nanoseconds() }
                    waitingSince[c] = now
                }
            } catch { failConnection(c) }
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
            readReplies(c, now: clock.nanoseconds(), into: &completions)
            waitingSince[c] = count[c] > 0 ? clock.nanoseconds() : 0
            found = true
        }
        if found { return }
        if now == 0 { now = clock.nanoseconds() }
        var n = 0
        // The wait ends at the caller's limit or at the first connection's I/O timeout.
        var wait = timeoutNanos ?? UInt64.max
        for c in sessions.indices where count[c] > 0 {
            fds[n] = pollfd(fd: sessions[c].connection.fileDescriptor, events: Int16(POLLIN), revents: 0)
            fdConnection[n] = c
            n += 1
            if waitingSince[c] == 0 { waitingSince[c] = now }
            let expires = waitingSince[c] &+ ioTimeoutNanos
            wait = min(wait, expires > now ? expires - now : 0)
        }
        let milliseconds = Int32(clamping: (wait + 999_999) / 1_000_000)
        let ready = fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t(n), milliseconds) }
        if ready < 0 { return }          // EINTR: the driver polls again
        let after = clock.nanoseconds()
        for i in 0..<n {
            let c = fdConnection[i]
            if fds[i].revents != 0 {
                // A fresh time: an earlier connection's stalled read in this loop may have taken long.
                readReplies(c, now: clock.nanoseconds(), into: &completions)
                // A reply is progress: the connection's remaining requests get a full I/O timeout.
                waitingSince[c] = count[c] > 0 ? after : 0
            } else if after &- waitingSince[c] >= ioTimeoutNanos {
                // No reply within the I/O timeout: this connection is dead to us.
                failConnection(c)
            }
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
    private func readReplies(_ c: Int, now: UInt64, into completions: inout [MultiplexedCompletion]) {
        let connection = sessions[c].connection
        // The rest of a reply is read blocking. A connection that has already waited a while
        // (another connection's stalled read held the thread) gets only what is left of its own
        // I/O timeout, not a fresh one: otherwise N connections stalled mid-reply would hold the
        // thread N I/O timeouts one after another. Healthy replies come within microseconds of
        // their progress mark, so the bound (a setsockopt) is rarely set.
        let bounded = waitingSince[c] > 0 && now &- waitingSince[c] > 50_000_000
        if bounded { connection.limitWaits(until: min(waitingSince[c] &+ ioTimeoutNanos, runLimit ?? UInt64.max)) }
        defer { if bounded { connection.limitWaits(until: runLimit) } }
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

    func nanosecondsUntilReady(slot: Int) -> UInt64 {
        let connection = sessions[slot / perConnection].connection
        if connection.isConnected { return 0 }
        let at = connection.nextAttemptNanoseconds
        guard at > 0 else { return 0 }
        let now = clock.nanoseconds()
        return at > now ? at - now : 0
    }

    func abandonInFlight(into completions: inout [MultiplexedCompletion]) {
        for c in sessions.indices where count[c] > 0 { failConnection(c) }
        for c in unsentConnections { unsent[c] = false }
        unsentConnections.removeAll(keepingCapacity: true)
        completions.append(contentsOf: ready)
        ready.removeAll(keepingCapacity: true)
    }

    func limitSynchronousWaits(toNanoseconds nanoseconds: UInt64?) {
        let limit = nanoseconds.map { clock.nanoseconds() &+ $0 }
        runLimit = limit
        for session in sessions { session.connection.limitWaits(until: limit) }
    }

    /// Closes connection `c` and fails its operations in flight (their replies are lost).
    private func failConnection(_ c: Int) {
        waitingSince[c] = 0
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
