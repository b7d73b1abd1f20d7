// The memcached client's in-place reply parsing (VALUE headers, CAS uniques, numbers written without String) against a real memcached and malformed replies.

import Driver
import Foundation
import KVClient
import StoreProcesses
import Testing

@Suite("memcached reply parsing")
struct MemcachedReplyParsingTests {
    @Test("get and gets against a real memcached return every value length byte for byte, and gets returns the unique cas accepts")
    func valueLengthsAndUniques() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        let c = try MemcachedConnection(endpoint: server.endpoint)
        // Around the read buffer's 64 KiB (a value that does not fit makes it grow) and the
        // benchmark's 100-byte records; the contents are position-dependent so a shifted or
        // truncated read cannot pass.
        let lengths = [0, 1, 2, 97, 100, 1000, 65_533, 65_536, 65_537, 200_000]
        func value(_ length: Int, _ salt: Int) -> [UInt8] { (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ salt) } }
        for (i, length) in lengths.enumerated() {
            #expect(try c.set(Array("len-\(i)".utf8), value(length, i)) == .stored)
        }
        // Pipelined: every get queued, one flush, replies read in place one after the other.
        for i in lengths.indices { try Array("len-\(i)".utf8).withUnsafeBytes { try c.queueGet($0, cas: i % 2 == 1) } }
        try c.flush()
        var uniques: [UInt64] = []
        for (i, length) in lengths.enumerated() {
            let (same, unique) = try c.readGet { got, unique in (got.map { Array($0) } == value(length, i), unique) }
            #expect(same, "value \(i) of \(length) bytes came back different")
            #expect((unique != 0) == (i % 2 == 1), "a get has no unique, a gets has one (value \(i))")
            uniques.append(unique)
        }
        // The unique gets returned is the server's: cas with it stores, and the same again is stale.
        for i in lengths.indices where i % 2 == 1 {
            let key = Array("len-\(i)".utf8)
            #expect(try c.set(key, Array("new".utf8), casUnique: uniques[i]) == .stored)
            #expect(try c.set(key, Array("newer".utf8), casUnique: uniques[i]) == .exists)
            #expect(try c.get(key)?.value == Array("new".utf8))
        }
    }

    @Test("the benchmark's configuration (24-byte keys, 100-byte values, 4 connections per thread, pipeline 1) runs on a real memcached with every operation OK")
    func benchmarkConfiguration() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        // dataintegrity=false: the multiplexed pipelined path, where each read is validated as a
        // RecordCodec record after its VALUE header was parsed in place.
        let configuration = try workloadConfiguration("workloadb", ["recordcount=1000", "operationcount=4000", "threadcount=2",
                                                                    "readproportion=0.9", "updateproportion=0.1", "writeallfields=true",
                                                                    "fieldcount=1", "fieldlength=97", "zeropadding=20",
                                                                    "requestdistribution=uniform"])
        let target = try MemcachedTarget(url: server.url, pipeline: 1, clientsPerThread: 4, fieldCount: configuration.fieldCount)
        let outcome = try loadAndRun(configuration, target: target)
        #expect(outcome.result.operations == 4000)
        #expect(nonOK(outcome).isEmpty, "\(nonOK(outcome))")
    }

    @Test("a VALUE header with a 20-digit CAS unique up to UInt64.max parses in full")
    func largestUnique() throws {
        let server = OneShotReplyServer(reply: "VALUE k 0 2 18446744073709551615\r\nhi\r\nEND\r\n")
        defer { server.stop() }
        let c = try MemcachedConnection(endpoint: server.endpoint, settings: MalformedReplyTests.quick)
        let got = try #require(try c.get(Array("k".utf8), cas: true))
        #expect(got.value == Array("hi".utf8))
        #expect(got.cas == UInt64.max)
    }

    @Test("the shortest VALUE header (one-byte key, empty value, no unique) parses")
    func shortestHeader() throws {
        let server = OneShotReplyServer(reply: "VALUE k 0 0\r\n\r\nEND\r\n")
        defer { server.stop() }
        let c = try MemcachedConnection(endpoint: server.endpoint, settings: MalformedReplyTests.quick)
        let got = try #require(try c.get(Array("k".utf8)))
        #expect(got.value == [])
        #expect(got.cas == 0)
    }

    @Test("a malformed VALUE header is a protocol violation that closes the connection",
          arguments: ["VALUE k x 2\r\nhi\r\nEND\r\n", "VALUE k 0 2 12 extra\r\nhi\r\nEND\r\n", "VALUE k 0\r\n", "VALUEk 0 2\r\nhi\r\nEND\r\n",
                      "VALUE k 0 -2\r\n", "VALUE  k 0 2\r\nhi\r\nEND\r\n", "VALUE k 0 2 \r\nhi\r\nEND\r\n", "VALUE k 0 2 18446744073709551616\r\nhi\r\nEND\r\n", "VALUE\r\n", "\r\n"])
    func malformedHeader(reply: String) throws {
        let server = OneShotReplyServer(reply: reply)
        defer { server.stop() }
        let c = try MemcachedConnection(endpoint: server.endpoint, settings: MalformedReplyTests.quick)
        do { _ = try c.get(Array("k".utf8), cas: true); Issue.record("accepted \(reply.debugDescription)") } catch {
            guard case .protocolViolation = error else { Issue.record("expected a protocol violation, got \(error)"); return }
        }
        #expect(!c.isConnected)
    }
}
