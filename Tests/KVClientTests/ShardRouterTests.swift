// Key hashes against their specifications' vectors; ring, jump, rendezvous and slot placement and movement; ring URLs and topology files.

import Foundation
import KVClient
import Testing

/// YCSB-style keys from a seeded generator (the seed is printed; KVLAB_SEED replays it).
func sampleKeys(_ count: Int, label: String) -> [[UInt8]] {
    let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
    print("\(label): seed \(seed) (replay with KVLAB_SEED=\(seed))")
    var state = seed
    return (0..<count).map { _ in
        state = state &+ 0x9E37_79B9_7F4A_7C15
        return Array("user\(mix64(state) % 10_000_000_000)".utf8)
    }
}

@Suite("shard routers")
struct ShardRouterTests {
    @Test("xxHash64 gives the reference implementation's values (libxxhash 0.8.1)")
    func xxhash64Vectors() {
        let h = KeyHashFunction.xxh64
        #expect(h.hash("") == 0xEF46_DB37_51D8_E999)
        #expect(h.hash("a") == 0xD24E_C4F1_A98C_6E5B)
        #expect(h.hash("abc") == 0x44BC_2CF5_AD77_0999)
        #expect(h.hash("user1000385178204227360") == 0x85E6_F08C_2244_4C73)
        #expect(h.hash("The quick brown fox jumps over the lazy dog") == 0x0B24_2D36_1FDA_71BC)
        #expect(h.hash("The quick brown fox jumps over the lazy dog", seed: 1) == 0xDF50_91B6_DAD2_C6DB)
        // 100 bytes: three 32-byte stripes, then the 8-, 4- and 1-byte tails.
        #expect(h.hash((0..<100).map { UInt8($0) }, seed: 0x9E37_79B9_7F4A_7C15) == 0x3B97_D91E_BA03_E785)
    }

    @Test("MurmurHash3 x86_32 and x64_128 give SMHasher's reference values")
    func murmur3Vectors() {
        func x86(_ s: String, _ seed: UInt32) -> UInt32 { Array(s.utf8).withUnsafeBytes { MurmurHash3.x86_32($0, seed: seed) } }
        func x64(_ s: String, _ seed: UInt32) -> (UInt64, UInt64) { Array(s.utf8).withUnsafeBytes { MurmurHash3.x64_128($0, seed: seed) } }
        #expect(x86("", 0) == 0)
        #expect(x86("", 1) == 0x514E_28B7)
        #expect(x86("aaaa", 0x9747_B28C) == 0x5A97_808A)
        #expect(x86("Hello, world!", 0x9747_B28C) == 0x2488_4CBA)
        #expect(x86("The quick brown fox jumps over the lazy dog", 0x9747_B28C) == 0x2FA8_26CD)
        #expect(x86("a", 0) == 0x3C25_69B2)
        #expect(x64("", 0) == (0, 0))
        #expect(x64("hello", 0) == (0xCBD8_A7B3_41BD_9B02, 0x5B1E_906A_48AE_1D19))
        #expect(x64("The quick brown fox jumps over the lazy dog", 0) == (0xE34B_BC7B_BC07_1B6C, 0x7A43_3CA9_C49A_9347))
        #expect(x64("user1000385178204227360", 1) == (0x40B6_FBA7_6054_427E, 0xB7DE_BBD4_05B4_2CF6))
        #expect(x64("Hello, world!", 0x9747_B28C) == (0xEDC4_85D6_62A8_392E, 0xF85E_7E76_31D5_76BA))
        #expect(KeyHashFunction.murmur3.hash("hello") == 0xCBD8_A7B3_41BD_9B02)
    }

    @Test("FNV-1a 64 gives the published test vectors")
    func fnvVectors() {
        #expect(KeyHashFunction.fnv1a.hash("") == 0xCBF2_9CE4_8422_2325)
        #expect(KeyHashFunction.fnv1a.hash("a") == 0xAF63_DC4C_8601_EC8C)
        #expect(KeyHashFunction.fnv1a.hash("foobar") == 0x8594_4171_F739_67E8)
    }

    @Test("a ring sends each key to the node of the first point at or after its hash, wrapping around")
    func ringPlacement() throws {
        let nodes = (0..<5).map { "10.0.0.\($0):6379" }
        let ring = try ConsistentHashRing(nodes: nodes, virtualNodes: 8, hash: .xxh64)
        // Brute force: every node's points, then the smallest point >= the key's hash.
        var points: [(UInt64, Int)] = []
        for (i, n) in nodes.enumerated() { for v in 0..<8 { points.append((KeyHashFunction.xxh64.hash("\(n)#\(v)"), i)) } }
        points.sort { $0.0 < $1.0 }
        for key in sampleKeys(2000, label: "ring placement") {
            let h = KeyHashFunction.xxh64.hash(key)
            let expected = (points.first { $0.0 >= h } ?? points[0]).1
            #expect(ring.node(forKey: key) == expected)
        }
        #expect(abs(ring.ownership.reduce(0, +) - 1) < 1e-9)
        // A point's own position belongs to it.
        #expect(ring.node(forHash: points[3].0) == points[3].1)
    }

    @Test("adding a node moves about 1/(N+1) of the keys, all of them to the new node, for every router", arguments: RouterKind.allCases)
    func movementOnJoin(kind: RouterKind) throws {
        let keys = sampleKeys(20000, label: "movement \(kind)")
        for n in [3, 5, 8] {
            let names = (0...n).map { "127.0.0.1:\(7000 + $0)" }
            let options = RouterOptions(kind: kind, hash: .xxh64, virtualNodes: 160)
            let before = try options.makeRouter(nodes: Array(names.prefix(n)))
            let after: any ShardRouter = kind == .slots
                ? (before as! RedisSlotRouter).addingNode(names[n]) : try options.makeRouter(nodes: names)
            var moved = 0
            for key in keys {
                let a = before.nodes[before.node(forKey: key)], b = after.nodes[after.node(forKey: key)]
                if a != b {
                    moved += 1
                    #expect(b == names[n], "\(kind): a key moved between two old nodes (\(a) -> \(b))")
                }
            }
            let fraction = Double(moved) / Double(keys.count)
            let ideal = 1 / Double(n + 1)
            // Sampling noise (4 σ of a binomial share) plus, for the ring, the spread of one
            // node's arc share with V points: relative σ ≈ 1/√V, allowed 4 σ.
            let sampling = 4 * (ideal * (1 - ideal) / Double(keys.count)).squareRoot()
            let arcs = kind == .ring ? 4 * ideal / Double(options.virtualNodes).squareRoot() : 0
            #expect(abs(fraction - ideal) <= sampling + arcs, "\(kind) N=\(n): moved \(fraction), ideal \(ideal)")
        }
    }

    @Test("a ring with few virtual nodes balances worse than one with many")
    func virtualNodesSmoothBalance() throws {
        let nodes = (0..<8).map { "127.0.0.1:\(7000 + $0)" }
        func spread(_ v: Int) throws -> Double {
            let share = try ConsistentHashRing(nodes: nodes, virtualNodes: v).ownership
            return share.max()! / (share.reduce(0, +) / Double(share.count))
        }
        #expect(try spread(1) > spread(640))
        #expect(try spread(640) < 1.25)
    }

    @Test("weights give a ring and rendezvous hashing shares in proportion")
    func weights() throws {
        let nodes = ["a:1", "b:1", "c:1"]
        let ring = try ConsistentHashRing(nodes: nodes, weights: [1, 1, 2], virtualNodes: 400)
        #expect(abs(ring.ownership[2] - 0.5) < 0.06, "\(ring.ownership)")
        let rendezvous = try RendezvousRouter(nodes: nodes, weights: [1, 1, 2])
        var counts = [0, 0, 0]
        for key in sampleKeys(20000, label: "weights") { counts[rendezvous.node(forKey: key)] += 1 }
        #expect(abs(Double(counts[2]) / 20000 - 0.5) < 0.03, "\(counts)")
        #expect(throws: ShardRouterError.weightsUnsupported(.jump)) { try JumpHashRouter(nodes: nodes, weights: [1, 1, 2]) }
        #expect(throws: ShardRouterError.duplicateNode("a:1")) { try RendezvousRouter(nodes: ["a:1", "a:1"]) }
    }

    @Test("jump hash keeps a key or sends it to the new last bucket as buckets grow")
    func jumpMonotone() {
        for key in sampleKeys(2000, label: "jump") {
            let h = KeyHashFunction.xxh64.hash(key)
            #expect(JumpHashRouter.bucket(forHash: h, buckets: 1) == 0)
            var previous = 0
            for buckets in 2...40 {
                let b = JumpHashRouter.bucket(forHash: h, buckets: buckets)
                #expect(b == previous || b == buckets - 1)
                previous = b
            }
        }
    }

    @Test("slot routing follows Redis Cluster's contiguous ranges and hash tags")
    func slots() throws {
        let router = try RedisSlotRouter(nodes: ["a:1", "b:1", "c:1"])
        // CLUSTER KEYSLOT foo = 12182 (Redis documentation); 3 even ranges: 0-5460, 5461-10922, 10923-16383.
        #expect(ClusterSlot.slot(of: "foo") == 12182)
        #expect(router.node(forKey: "foo") == 2)
        #expect(router.node(forKey: "{user1000}.a") == router.node(forKey: "{user1000}.b"))
        #expect(router.slotOwners[5460] == 0 && router.slotOwners[5461] == 1 && router.slotOwners[10923] == 2)
        let grown = router.addingNode("d:1")
        #expect(grown.slotOwners.filter { $0 == 3 }.count == 4096)
    }

    @Test("ring URLs take router, hash, vnodes, weights and topology, and name a bad option")
    func ringURL() throws {
        let t = try RedisTarget(url: "ring://127.0.0.1:7001,127.0.0.1:7002?hash=murmur3&vnodes=64&router=rendezvous&weights=1,2")
        #expect(t.endpoints.count == 2)
        #expect(t.shard?.router == RouterOptions(kind: .rendezvous, hash: .murmur3, virtualNodes: 64))
        #expect(t.shard?.weights == [1, 2])
        #expect(try RedisTarget(url: "ring://127.0.0.1:7001,127.0.0.1:7002?topology=/tmp/t").shard?.topologyFile == "/tmp/t")
        let plain = try RedisTarget(url: "ring://:secret@127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003")
        #expect(plain.password == "secret" && plain.shard?.router == RouterOptions())
        for (url, fragment) in [("ring://a:1,b:2?hash=md5", "hash=md5"), ("ring://a:1?vnodes=0", "vnodes=0"),
                                ("ring://a:1,b:2?weights=1", "weights="), ("ring://a:1?colour=red", "unknown option 'colour'"),
                                ("ring://a:1,a:1", "listed twice"), ("ring://a:1,b:2?router=jump&weights=1,3", "does not take weights"),
                                ("ring://a:1,b:2?weights=1,2&topology=/tmp/t", "weights= with topology="),
                                ("ring://a:1,b:2?weights=1,1e300", "ring points per node")] {
            #expect {
                _ = try RedisTarget(url: url)
            } throws: { error in
                "\(error)".contains(fragment)
            }
        }
    }

    @Test("a topology file round-trips, and a malformed one names its line")
    func topologyFile() throws {
        let t = RingTopology(epoch: 3, phase: .migrating, nodes: ["a:1", "b:1", "c:1"], previous: ["a:1", "b:1"])
        #expect(try RingTopology(text: t.text, file: "t") == t)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-topology-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try RingTopology.read(path: path) == nil)
        try t.write(path: path)
        #expect(try RingTopology.read(path: path) == t)
        #expect(throws: RingTopologyError.malformed(file: "f", line: 2, "phase 'moving': expected stable, migrating or switching")) {
            try RingTopology(text: "epoch 1\nphase moving\nnodes a:1\n", file: "f")
        }
        #expect(throws: RingTopologyError.malformed(file: "f", line: 0, "phase switching needs a 'previous' line")) {
            try RingTopology(text: "epoch 1\nphase switching\nnodes a:1\n", file: "f")
        }
    }
}
