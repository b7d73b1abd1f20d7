// Regressions from attacking a running sentinel (results/hostile-attacks.md): each test failed before its fix.

import Foundation
import KVClient
import RESP
import Sentinel
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Hostile sentinel clients")
struct HostileSentinelTests {
    @Test("a client that pipelines commands and never reads the replies stops being read, so its replies stay bounded")
    func clientThatNeverReadsIsNotServedWithoutBound() throws {
        let configuration = SentinelConfiguration(masterName: "m", master: RedisEndpoint(host: "127.0.0.1", port: 1), quorum: 1,
                                                  peers: [], runID: String(repeating: "b", count: 40),
                                                  announced: RedisEndpoint(host: "127.0.0.1", port: 1))
        let server = SentinelServer(node: SentinelNode(configuration: configuration,
                                                       links: RESPSentinelLinks(sourceHost: nil, timeoutSeconds: 1), seed: 1))
        let port = try server.start(host: "127.0.0.1", port: 0)
        defer { try? server.shutdown() }

        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        // 2,000 PINGs echoing 16 KB each (32 MB of replies), sent until the socket blocks for
        // 2 s: before the fix the sentinel read and answered every one into NIO's outbound
        // buffer; now it stops reading once the replies pass the write watermark, the kernel's
        // buffers fill and the sending stops.
        let commands = 2000
        let payload = String(repeating: "p", count: 16 * 1024)
        let one = Array("*2\r\n$4\r\nPING\r\n$\(payload.utf8.count)\r\n\(payload)\r\n".utf8)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        sending: for _ in 0..<commands {
            var sent = 0
            while sent < one.count {
                let n = one[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break sending }
                sent += n
            }
        }
        // Wait until the count stops moving (bounded: at most 60 s).
        var last = -1
        for _ in 0..<60 {
            let now = server.commandsProcessed.load(ordering: .relaxed)
            if now == last { break }
            last = now
            usleep(1_000_000)
        }
        #expect(last < commands, "the sentinel answered \(last) of \(commands) commands of a client that reads nothing")
        // Other clients are still served.
        let other = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: port), timeoutSeconds: 60)
        #expect(try other.call(["PING"]) == .simpleString("PONG"))
    }
}
