// The engine registry, engine options, the null engine, and the slab allocator.

import KVCore
import Testing

@Suite("Registry, options, null engine, slabs")
struct RegistryAndOptionsTests {
    let registry = EngineRegistry([
        EngineDescriptor(name: "null", summary: "nothing", capabilities: [],
                         options: [EngineOptionDescriptor(name: "size", help: "a size", defaultValue: "1")],
                         factory: { (options) throws(EngineError) in
                             _ = try options.integer("size", engine: "null", default: 1, range: 1...(1 << 30))
                             return NullEngine()
                         }),
    ])

    @Test("unknown engines and options are errors that list what exists")
    func unknownNames() {
        #expect(throws: EngineError.unknownEngine(name: "nope", available: ["null"])) { try registry.open("nope") }
        #expect(throws: EngineError.unknownOption(engine: "null", option: "colour", known: ["size"])) {
            try registry.open("null", options: EngineOptions(["colour": "red"]))
        }
    }

    @Test("integer options take size suffixes and reject bad values naming the option")
    func integerOptions() throws {
        let options = try EngineOptions(parsing: ["a=64K", "b=2MiB", "c=1g", "d=12", "e=x", "f=-1"], engine: "t")
        #expect(try options.integer("a", engine: "t", default: 0) == 65_536)
        #expect(try options.integer("b", engine: "t", default: 0) == 2 << 20)
        #expect(try options.integer("c", engine: "t", default: 0) == 1 << 30)
        #expect(try options.integer("d", engine: "t", default: 0) == 12)
        #expect(try options.integer("missing", engine: "t", default: 5) == 5)
        #expect(throws: EngineError.self) { try options.integer("e", engine: "t", default: 0) }
        #expect(throws: EngineError.self) { try options.integer("f", engine: "t", default: 0) }
        #expect(throws: EngineError.invalidOption(engine: "t", option: "noequals", value: "", expected: "name=value")) {
            try EngineOptions(parsing: ["noequals"], engine: "t")
        }
        let message = EngineError.invalidOption(engine: "hash", option: "shards", value: "x", expected: "an integer").description
        #expect(message == "engine 'hash': option 'shards' has value 'x', expected an integer")
    }

    @Test("the null engine accepts writes, finds nothing, and refuses use after close")
    func nullEngine() throws {
        let engine = try registry.open("null")
        try engine.put([1], [2])
        #expect(try engine.get([1]) == nil)
        #expect(try engine.delete([1]) == false)
        #expect(try engine.scan(from: [], limit: 10).isEmpty)
        try engine.close()
        #expect(throws: EngineError.closed(engine: "null")) { try engine.get([1]) }
    }

    @Test("the slab allocator reuses freed chunks of the same class and tracks bytes in use")
    func slabs() {
        var slabs = SlabAllocator()
        let a = slabs.allocate(118)
        #expect(slabs.bytesInUse == 120)
        slabs.deallocate(a, size: 118)
        #expect(slabs.bytesInUse == 0)
        let b = slabs.allocate(120)
        #expect(a == b)
        let big = slabs.allocate(100_000)
        #expect(slabs.bytesInUse == 100_120)
        slabs.deallocate(big, size: 100_000)
        slabs.deallocate(b, size: 120)
        #expect(slabs.bytesInUse == 0)
        #expect(slabs.bytesReserved == SlabAllocator.slabSize)
    }

    @Test("slabs whose chunks are all freed go back to the system, but one per class stays for reuse")
    func emptySlabsAreReleased() {
        var slabs = SlabAllocator()
        let perSlab = (SlabAllocator.slabSize - 64) / 1024
        var chunks = (0..<(perSlab * 3 + 5)).map { _ in slabs.allocate(1024) }
        #expect(slabs.bytesReserved == 4 * SlabAllocator.slabSize)
        var rng = SeededRandom(seed: 9)
        chunks.shuffle(using: &rng)
        let small = (0..<100).map { _ in slabs.allocate(100) }
        for chunk in chunks { slabs.deallocate(chunk, size: 1024) }
        // One empty 1 KiB slab stays cached; the 104-byte class holds one slab.
        #expect(slabs.bytesReserved == 2 * SlabAllocator.slabSize)
        for chunk in small { slabs.deallocate(chunk, size: 100) }
        #expect(slabs.bytesInUse == 0)
        // Memory is reused: a new round fits in the kept slab.
        let again = slabs.allocate(1024)
        #expect(slabs.bytesReserved == 2 * SlabAllocator.slabSize)
        slabs.deallocate(again, size: 1024)
    }

    @Test("releaseAll frees the large (malloc'd) chunks too")
    func releaseAllFreesLargeChunks() {
        var slabs = SlabAllocator()
        _ = slabs.allocate(100)
        let big = slabs.allocate(1 << 20)
        _ = slabs.allocate(10_000)
        #expect(slabs.largeChunkCount == 2)
        slabs.deallocate(big, size: 1 << 20)
        #expect(slabs.largeChunkCount == 1)
        slabs.releaseAll()
        #expect(slabs.largeChunkCount == 0)
        #expect(slabs.bytesReserved == 0 && slabs.bytesInUse == 0)
    }
}
