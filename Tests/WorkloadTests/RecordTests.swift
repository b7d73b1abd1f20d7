// Records: the one-value binary encoding, and data-integrity values.

import KVCore
import Testing
@testable import Workload

@Suite("Records")
struct RecordTests {
    @Test("a planned insert encodes as one value and decodes to the same fields")
    func roundTrip() throws {
        let workload = try CoreWorkload(configuration: configuration("recordcount=10\nfieldlengthdistribution=uniform\nminfieldlength=0\nfieldlength=300"))
        var thread = workload.makeThread(index: 0)
        var buffer: [UInt8] = []
        for _ in 0..<10 {
            let op = thread.nextLoadOperation()!
            RecordCodec.encode(op, into: &buffer)
            let fields = try RecordCodec.decode(buffer)
            #expect(fields.map(\.index) == Array(0..<10))
            for (i, v) in fields { #expect(v == Array(op.value(ofField: i))) }
        }
        var empty: [UInt8] = []
        RecordCodec.encode([], into: &empty)
        #expect(empty == [0])
        #expect(try RecordCodec.decode(empty).isEmpty)
    }

    @Test("merging an update replaces one field and keeps the others")
    func merge() throws {
        let workload = try CoreWorkload(configuration: configuration("recordcount=10\nfieldcount=4\nfieldlength=5\nreadproportion=0\nupdateproportion=1"))
        var thread = workload.makeThread(index: 0)
        var existing: [UInt8] = []
        RecordCodec.encode([(0, Array("aaaaa".utf8)), (2, Array("ccccc".utf8))], into: &existing)
        var out: [UInt8] = []
        for _ in 0..<20 {
            let update = thread.nextTransactionOperation()
            try existing.withUnsafeBytes { try RecordCodec.merge(existing: $0, update: update, into: &out) }
            let merged = try RecordCodec.decode(out)
            let f = update.writeFields.lowerBound
            #expect(merged.first { $0.index == f }?.value == Array(update.value(ofField: f)))
            #expect(Set(merged.map(\.index)) == Set([0, 2, f]))
            if f != 0 { #expect(merged.first { $0.index == 0 }?.value == Array("aaaaa".utf8)) }
            #expect(merged.map(\.index) == merged.map(\.index).sorted())
        }
    }

    @Test("malformed records are errors with the byte offset")
    func malformed() {
        func error(_ bytes: [UInt8]) -> RecordCodecError? {
            do { _ = try RecordCodec.decode(bytes); return nil } catch { return error }
        }
        guard case .malformed(0, _) = error([]) else { Issue.record("empty"); return }
        // 1 field, index 0, length 5, only 2 bytes.
        guard case .malformed(3, let reason) = error([1, 0, 5, 0x41, 0x42]) else { Issue.record("short"); return }
        #expect(reason.contains("runs past the end"))
        guard case .malformed(4, _) = error([1, 0, 1, 0x41, 0x99]) else { Issue.record("trailing"); return }
        guard case .malformed(4, _) = error([2, 1, 1, 0x41, 1, 1, 0x42]) else { Issue.record("repeated index"); return }
        guard case .malformed(1, _) = error([1, 0x80]) else { Issue.record("truncated varint"); return }
        guard case .malformed(0, _) = error([200, 1]) else { Issue.record("huge count"); return }
        #expect(RecordCodecError.malformed(offset: 3, reason: "x").description == "malformed record at byte 3: x")
    }

    /// Java's String.hashCode, written independently of the implementation under test.
    func javaHash(_ s: String) -> Int32 {
        s.utf16.reduce(Int32(0)) { $0 &* 31 &+ Int32($1) }
    }

    @Test("data-integrity values are YCSB's key:field:hash text, and verify catches tampering")
    func dataIntegrity() throws {
        // YCSB appends ':' first and hashes the text including it.
        var ycsb = "user1:field0"
        while ycsb.count < 60 { ycsb += ":"; ycsb += String(javaHash(ycsb)) }
        #expect(DataIntegrity.value(key: "user1", field: "field0", length: 60) == Array(ycsb.utf8.prefix(60)))
        #expect(DataIntegrity.value(key: "user1", field: "field0", length: 5) == Array("user1".utf8))

        let workload = try CoreWorkload(configuration: configuration("recordcount=10\ndataintegrity=true\nfieldlength=64\nreadproportion=0\nupdateproportion=1"))
        var thread = workload.makeThread(index: 0)
        while let op = thread.nextLoadOperation() {
            for f in op.writeFields {
                #expect(workload.verify(key: op.key, field: f, value: op.value(ofField: f)))
                var tampered = Array(op.value(ofField: f))
                tampered[10] ^= 1
                #expect(!workload.verify(key: op.keyString, field: f, value: tampered))
                #expect(!workload.verify(key: op.keyString, field: f, value: Array(tampered.prefix(63))))
            }
        }
        let update = thread.nextTransactionOperation()
        let f = update.writeFields.lowerBound
        #expect(workload.verify(key: update.key, field: f, value: update.value(ofField: f)))
    }
}
