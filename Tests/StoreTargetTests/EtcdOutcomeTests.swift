// How the etcd client and the register workload classify outcomes, against a scripted HTTP server on loopback.

import Driver
import Foundation
import History
import KVClient
import Linearizability
import StoreProcesses
import Testing

/// A loopback server that reads each HTTP request and then answers with `reply` (or, if nil,
/// closes the connection without answering: the request's outcome is unknown to the client).
/// Serves at most `limit` connections; `stop()` closes it.
final class ScriptedHTTPServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let thread: Thread

    init(reply: String?, limit: Int = 1000) {
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
        listen(s, 64)
        listener = s
        port = Int(UInt16(bigEndian: address.sin_port))
        thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            for _ in 0..<limit {
                let c = accept(s, nil, nil)
                if c < 0 { return }
                // Serve requests on this connection until the client closes it.
                var pending = [UInt8]()
                connection: while true {
                    let n = buffer.withUnsafeMutableBytes { recv(c, $0.baseAddress!, $0.count, 0) }
                    if n <= 0 { break }
                    pending += buffer[0..<n]
                    // One request = headers + Content-Length bytes.
                    while let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) {
                        let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self).lowercased()
                        let bodyLength = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                            .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                        guard pending.count >= end.upperBound + bodyLength else { break }
                        pending.removeFirst(end.upperBound + bodyLength)
                        guard let reply else { break connection }
                        _ = reply.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                    }
                }
                close(c)
            }
        }
        thread.start()
    }

    var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    static func http(_ status: String, _ body: String) -> String {
        "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }
}

@Suite("etcd outcomes")
struct EtcdOutcomeTests {
    static let quick = ConnectionSettings(ioTimeoutSeconds: 2, connectTimeoutSeconds: 1, backoff: Backoff(initialSeconds: 0.001, maximumSeconds: 0.001))

    @Test("a write whose connection closes before the answer is indeterminate; a refused connection is not")
    func lostAnswer() throws {
        let server = ScriptedHTTPServer(reply: nil)
        defer { server.stop() }
        let client = EtcdClient(endpoints: [server.endpoint], settings: Self.quick)
        do { try client.put(Array("k".utf8), Array("v".utf8)); Issue.record("a put with no answer succeeded") } catch {
            guard case .indeterminate = error else { Issue.record("expected indeterminate, got \(error)"); return }
            #expect(error.mayHaveTakenEffect)
        }
        // Nothing listens on a port just freed: the connection is refused, nothing was sent.
        let nobody = EtcdClient(endpoints: [RedisEndpoint(host: "127.0.0.1", port: freeLoopbackPort())], settings: Self.quick)
        do { try nobody.put(Array("k".utf8), Array("v".utf8)); Issue.record("a put to nobody succeeded") } catch {
            guard case .unreachable = error else { Issue.record("expected unreachable, got \(error)"); return }
            #expect(!error.mayHaveTakenEffect)
        }
    }

    @Test("etcd's Unavailable answer makes a write indeterminate, another gRPC error makes it rejected")
    func serverErrors() throws {
        let unavailable = ScriptedHTTPServer(reply: ScriptedHTTPServer.http("503 Service Unavailable",
                                                                           #"{"error":"etcdserver: request timed out","code":14,"message":"etcdserver: request timed out"}"#))
        defer { unavailable.stop() }
        let client = EtcdClient(endpoints: [unavailable.endpoint], settings: Self.quick)
        do { try client.put(Array("k".utf8), Array("v".utf8)); Issue.record("succeeded") } catch {
            #expect(error == .indeterminate("\(unavailable.endpoint): etcdserver: request timed out"))
        }
        let invalid = ScriptedHTTPServer(reply: ScriptedHTTPServer.http("400 Bad Request",
                                                                       #"{"error":"etcdserver: key is not provided","code":3,"message":"etcdserver: key is not provided"}"#))
        defer { invalid.stop() }
        let other = EtcdClient(endpoints: [invalid.endpoint], settings: Self.quick)
        do { try other.put([], Array("v".utf8)); Issue.record("succeeded") } catch {
            #expect(error == .rejected(code: 3, message: "etcdserver: key is not provided"))
            #expect(!error.mayHaveTakenEffect)
        }
    }

    @Test("a read that fails on one member is retried on the next and answered there")
    func readFailover() throws {
        let broken = ScriptedHTTPServer(reply: nil)
        defer { broken.stop() }
        let value = Array("v".utf8)
        let body = #"{"header":{"revision":"7"},"kvs":[{"key":"aw==","value":"dg==","mod_revision":"7","create_revision":"3"}],"count":"1"}"#
        let healthy = ScriptedHTTPServer(reply: ScriptedHTTPServer.http("200 OK", body))
        defer { healthy.stop() }
        let client = EtcdClient(endpoints: [broken.endpoint, healthy.endpoint], settings: Self.quick)
        let kv = try #require(try client.range(Array("k".utf8)).first)
        #expect(kv.value == value)
        #expect(kv.modRevision == 7 && kv.createRevision == 3)
        #expect(client.current == 1)
        #expect(client.failovers == 1)
    }

    @Test("the register workload records unknown write outcomes as info and retires their processes")
    func infoAndRetirement() throws {
        let server = ScriptedHTTPServer(reply: nil)
        defer { server.stop() }
        let workload = EtcdRegisterWorkload(clients: 2, keys: 2, operationsPerClient: 20, maximumSeconds: 30,
                                            seed: testSeed("register info"), connection: Self.quick)
        let outcome = workload.run(endpoints: [server.endpoint])
        let events = outcome.history.events
        #expect(events.count == 2 * 2 * 20)
        #expect(outcome.ok == 0)
        // Reads changed nothing: fail. Writes and cas may have happened: info.
        var pending: [Int: String] = [:]
        for e in events {
            if e.kind == .invoke { pending[e.process] = e.function; continue }
            let function = pending.removeValue(forKey: e.process)
            #expect(function == e.function)
            #expect(e.kind == (e.function == "read" ? .fail : .info), "\(e.function) ended \(e.kind)")
        }
        #expect(pending.isEmpty)
        // Each info retires its process: a process id never invokes again after an info.
        var retired = Set<Int>()
        for e in events {
            if e.kind == .invoke { #expect(!retired.contains(e.process), "process \(e.process) invoked after its info") }
            if e.kind == .info { retired.insert(e.process) }
        }
        #expect(retired.count == outcome.info)
        #expect(outcome.info > 0 && outcome.fail > 0)
        // All unknown: trivially linearizable, and the checker accepts the history's shape.
        #expect(try check(outcome.history, model: CASRegisterModel()).verdict == .linearizable)
    }
}
