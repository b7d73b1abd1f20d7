// Lengths from the network (memcached VALUE lines, HTTP Content-Length, chunk sizes) that are negative, overflow or absurdly large must be errors, not traps or giant buffers.

import Foundation
import KVClient
import Testing

/// A loopback server that, on each connection, reads once and sends `reply`, then keeps the
/// connection open until the client closes it. Serves at most `limit` connections.
final class OneShotReplyServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32

    init(reply: String, limit: Int = 8) {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) } }
        listen(s, 16)
        listener = s
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            // The thread closes the listener itself, once it can no longer call accept on it:
            // closed by stop() while this thread still held the number, the descriptor could be
            // reused by another test's listener, and this thread would answer that test's client
            // with this reply (seen in a full parallel run: a valid reply from a neighbour).
            defer { close(s) }
            for _ in 0..<limit {
                let c = accept(s, nil, nil)
                if c < 0 { return }
                let n = buffer.withUnsafeMutableBytes { recv(c, $0.baseAddress!, $0.count, 0) }
                if n > 0 { _ = reply.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }
                // Wait for the client to give up (it closes on a protocol violation).
                while buffer.withUnsafeMutableBytes({ recv(c, $0.baseAddress!, $0.count, 0) }) > 0 {}
                close(c)
            }
        }.start()
    }

    var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    /// Stops accepting: wakes a blocked accept, after which the thread closes the listener.
    func stop() { shutdown(listener, Int32(SHUT_RDWR)) }
}

@Suite("malformed lengths from the network")
struct MalformedReplyTests {
    static let quick = ConnectionSettings(ioTimeoutSeconds: 2, connectTimeoutSeconds: 1, backoff: Backoff(initialSeconds: 0.001, maximumSeconds: 0.001))

    @Test("a 19-digit decimal above Int.max parses as nil instead of trapping")
    func decimalOverflow() {
        let parse = { (text: String) in Array(text.utf8).withUnsafeBytes { $0.decimalValue } }
        #expect(parse("9999999999999999999") == nil)
        #expect(parse("9223372036854775808") == nil)
        #expect(parse("9223372036854775807") == Int.max)
        #expect(parse("42") == 42)
    }

    @Test("a memcached VALUE line announcing an overflowing or huge length is a protocol violation",
          arguments: ["VALUE k 0 9999999999999999999\r\n", "VALUE k 0 9000000000000000000\r\n"])
    func memcachedHugeLength(reply: String) throws {
        let server = OneShotReplyServer(reply: reply)
        defer { server.stop() }
        let connection = try MemcachedConnection(endpoint: server.endpoint, settings: Self.quick)
        do { _ = try connection.get(Array("k".utf8)); Issue.record("a get with a bogus length succeeded") } catch {
            guard case .protocolViolation = error else { Issue.record("expected a protocol violation, got \(error)"); return }
        }
        #expect(!connection.isConnected)
    }

    @Test("an etcd reply with a negative or huge Content-Length, or an overflowing chunk size, is an error",
          arguments: ["HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
                      "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n{}",
                      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n{}"])
    func etcdBogusLength(reply: String) throws {
        let server = OneShotReplyServer(reply: reply)
        defer { server.stop() }
        let client = EtcdClient(endpoints: [server.endpoint], settings: Self.quick)
        defer { client.close() }
        do { _ = try client.range(Array("k".utf8)); Issue.record("a range with a bogus length succeeded") } catch {
            // A read that reached the member but got no usable answer.
            guard case .indeterminate(let message) = error else { Issue.record("expected indeterminate, got \(error)"); return }
            #expect(message.contains("expected"))
        }
        do { try client.put(Array("k".utf8), Array("v".utf8)); Issue.record("a put with a bogus length succeeded") } catch {
            #expect(error.mayHaveTakenEffect)
        }
    }
}
