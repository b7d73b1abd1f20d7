// The event-driven memcached driver against a server that sends half a reply and stalls (rev19).

#if canImport(Glibc)
import Glibc
#endif
import Driver
import Foundation
import KVClient
import Measurement
import Synchronization
import Testing
import Workload

/// A server on 127.0.0.1 that answers each connection's first request with the header and half
/// the body of a VALUE reply, then never sends the rest (a server that stalls mid-reply).
final class HalfReplyServer: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let connections = Mutex<[Int32]>([])
    /// Connections whose request arrived; the half replies go out together once `batch` did.
    private let asked = Mutex<[Int32]>([])
    let batch: Int

    /// - Parameter batch: Hold the half replies until this many connections have sent a request,
    ///   then send them all at once (so one poll(2) of the client sees several readable sockets).
    init(batch: Int = 1) throws {
        self.batch = batch
        (fd, port) = try StalledServer.listenOnLoopback()
        Thread { [self] in acceptLoop() }.start()
    }

    var url: String { "memcached://127.0.0.1:\(port)" }

    private func acceptLoop() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return }  // the listener was shut down
            connections.withLock { $0.append(c) }
            Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                guard recv(c, &buffer, buffer.count, 0) > 0 else { return }
                // 100-byte value announced, 10 bytes sent: the client has a readable socket and
                // a reply whose rest never comes.
                let half = Array("VALUE user1 0 100\r\n0123456789".utf8)
                let ready: [Int32] = self.asked.withLock { waiting in
                    waiting.append(c)
                    guard waiting.count >= self.batch else { return [] }
                    let all = waiting
                    waiting.removeAll()
                    return all
                }
                for r in ready { _ = send(r, half, half.count, Int32(MSG_NOSIGNAL)) }
                while recv(c, &buffer, buffer.count, 0) > 0 {}
            }.start()
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        for c in connections.withLock({ $0 }) {
            shutdown(c, Int32(SHUT_RDWR))
            close(c)
        }
    }
}

@Suite("memcached event loop against a half reply", .serialized)
struct MemcachedHalfReplyTests {
    @Test("a server that sends half a VALUE reply and stalls does not hold a maxexecutiontime=1 run for the 30 s I/O timeout; each operation is recorded once as ERROR")
    func halfReplyTimeLimit() throws {
        let server = try HalfReplyServer()
        defer { server.stop() }
        let c = try workloadConfiguration("workloadc", ["recordcount=300", "threadcount=2", "fieldcount=1", "fieldlength=50",
                                                        "operationcount=1000000000", "maxexecutiontime=1"])
        let (outcome, elapsed) = try timedMemcachedRun(c, url: server.url, clients: 4, ioTimeoutSeconds: 30)
        // Behaviour, not performance: without the bound the run lasts the 30 s I/O timeout.
        #expect(elapsed < 10, "the run took \(elapsed) s")
        #expect(outcome.stoppedByTimeLimit)
        // 2 threads × 4 slots: each slot's one read got half a reply and never completed.
        #expect(outcome.result.operations == 8, "\(returns(outcome))")
        #expect(returns(outcome) == ["ERROR": 8], "\(returns(outcome))")
    }
    @Test("without a time limit, 8 connections of one thread stalled mid-reply fail within about one I/O timeout (1 s), not one timeout after another (8 s)")
    func halfRepliesShareOneTimeout() throws {
        let server = try HalfReplyServer(batch: 8)
        defer { server.stop() }
        let c = try workloadConfiguration("workloadc", ["recordcount=300", "threadcount=1", "fieldcount=1", "fieldlength=50",
                                                        "operationcount=8"])
        let (outcome, elapsed) = try timedMemcachedRun(c, url: server.url, clients: 8, ioTimeoutSeconds: 1)
        // Behaviour, not performance: read one after another, the stalled replies take 8 × 1 s.
        #expect(elapsed < 5, "the run took \(elapsed) s")
        #expect(outcome.result.operations == 8, "\(returns(outcome))")
        #expect(returns(outcome) == ["ERROR": 8], "\(returns(outcome))")
    }
}
