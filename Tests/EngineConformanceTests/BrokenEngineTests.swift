// The suite must catch engines that lie: a deliberately broken engine fails it.

import KVCore
import KVEngines
import Testing

/// Wraps a working engine and breaks one behaviour after a number of calls.
final class MisbehavingEngine: KeyValueEngine, @unchecked Sendable {
    enum Fault { case flipsAValueByte, forgetsADelete, reversesAScan, dropsAPut }

    let inner: any KeyValueEngine
    let fault: Fault
    private let lock = Lock()
    private var calls = 0
    let name = "misbehaving"
    var capabilities: EngineCapabilities { inner.capabilities }

    init(_ inner: any KeyValueEngine, fault: Fault) {
        self.inner = inner
        self.fault = fault
    }

    private func misbehaveNow(_ kind: Fault) -> Bool {
        guard kind == fault else { return false }
        return lock.withLock { calls += 1; return calls % 37 == 0 }
    }

    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        let flip = misbehaveNow(.flipsAValueByte)
        return try inner.get(key) { value in
            guard flip, value.count > 0 else { return body(value) }
            var copy = Array(value)
            copy[0] ^= 0x01
            return copy.withUnsafeBytes { body($0) }
        }
    }

    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        if misbehaveNow(.dropsAPut) { return }
        try inner.put(key, value, options: options)
    }

    func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        if misbehaveNow(.forgetsADelete) { return try inner.get(key) { _ in true } ?? false }
        return try inner.delete(key, options: options)
    }

    func scan(from start: UnsafeRawBufferPointer, limit: Int, _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        guard misbehaveNow(.reversesAScan) else { return try inner.scan(from: start, limit: limit, visit) }
        var pairs: [KeyValuePair] = []
        try inner.scan(from: start, limit: limit) { k, v in pairs.append(KeyValuePair(key: Array(k), value: Array(v))); return true }
        for pair in pairs.reversed() {
            let go = pair.key.withUnsafeBytes { k in pair.value.withUnsafeBytes { v in visit(k, v) } }
            if !go { return }
        }
    }

    func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) { try inner.write(batch, options: options) }
    func flush() throws(EngineError) { try inner.flush() }
    func close() throws(EngineError) { try inner.close() }
    var count: Int? { nil }
    func checkInvariants() throws(EngineError) { try inner.checkInvariants() }
}

@Suite("Engine conformance: the suite catches broken engines")
struct BrokenEngineTests {
    @Test("an engine that breaks one behaviour fails the model test",
          arguments: [MisbehavingEngine.Fault.flipsAValueByte, .forgetsADelete, .reversesAScan, .dropsAPut])
    func brokenEngineFails(fault: MisbehavingEngine.Fault) throws {
        let subject = EngineUnderTest(name: "skiplist with fault \(fault)", semantics: .storing) {
            MisbehavingEngine(try StandardEngines.registry.open("skiplist"), fault: fault)
        }
        let failure = try ConformanceRunner(subject: subject, seed: 7, operations: 6_000).run()
        #expect(failure != nil, "the model test accepted an engine with fault \(fault)")
        #expect(failure?.description.contains("KVLAB_SEED=7") == true)
    }
}
