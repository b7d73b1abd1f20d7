// Readers that never wait for writers: a scan held open does not stall writes, and racing
// readers see whole batches and one snapshot per scan (skiplist and lsm, issue 18).

import Foundation
import KVCore
import KVEngines
import LSMEngine
import Synchronization
import Testing

@Suite("Readers never wait for writers")
struct ReadersNeverWaitTests {
    static let subjects: [EngineUnderTest] = [.registry("skiplist"), .lsm]

    static func key(_ i: Int) -> [UInt8] { Array(String(format: "key-%06d", i).utf8) }
    static func value(_ i: Int, generation: Int) -> [UInt8] { Array("v\(generation)-\(i)-".utf8) + [UInt8](repeating: UInt8(i & 0xFF), count: 40) }

    @Test("a writer completes its writes while a reader holds a scan open, and the scan stays one snapshot",
          arguments: subjects)
    func writerProgressesDuringOpenScan(subject: EngineUnderTest) throws {
        let engine = try subject.open()
        defer { try? engine.close() }
        let initial = 300
        for i in 0..<initial { try engine.put(Self.key(2 * i), Self.value(2 * i, generation: 0)) }
        let writes = 3000
        let writerDone = DispatchSemaphore(value: 0)
        let writerErrors = Mutex<[String]>([])
        var finishedWhileOpen: Bool? = nil
        var seen: [KeyValuePair] = []
        try engine.scan(from: UnsafeRawBufferPointer(start: nil, count: 0), limit: .max) { k, v in
            if finishedWhileOpen == nil {
                // The scan is open and positioned: now a writer overwrites, inserts between and
                // after, and deletes, while this reader sits inside `visit`.
                Thread {
                    defer { writerDone.signal() }
                    do {
                        for j in 0..<writes {
                            switch j % 3 {
                            case 0: try engine.put(Self.key(2 * (j % initial)), Self.value(j, generation: 1))
                            case 1: try engine.put(Self.key(2 * j + 1), Self.value(j, generation: 1))
                            default: _ = try engine.delete(Self.key(2 * ((j / 3) % initial)))
                            }
                        }
                    } catch { writerErrors.withLock { $0.append("\(error)") } }
                }.start()
                // Generous, and bounded: under a read lock held by the scan this times out.
                finishedWhileOpen = writerDone.wait(timeout: .now() + 60) == .success
            }
            seen.append(KeyValuePair(key: Array(k), value: Array(v)))
            return true
        }
        // A writer that timed out may still be running: let it end before checking and closing.
        if finishedWhileOpen != true { writerDone.wait() }
        #expect(finishedWhileOpen == true, "\(subject.name): the writer did not finish \(writes) writes within 60 s while a scan was open")
        #expect(writerErrors.withLock { $0 }.isEmpty, "writer failed: \(writerErrors.withLock { $0 })")
        let expected = (0..<initial).map { KeyValuePair(key: Self.key(2 * $0), value: Self.value(2 * $0, generation: 0)) }
        #expect(seen == expected, "\(subject.name): the scan saw \(seen.count) records, not the \(initial) of its snapshot")
        // Once the scan is closed, the writer's work is all there.
        #expect(try engine.get(Self.key(2 * (writes - 2) + 1)) == Self.value(writes - 2, generation: 1))
        #expect(try engine.get(Self.key(0)) == nil)
        try engine.checkInvariants()
    }

    static let groups = 48
    static let groupSize = 4

    static func groupKey(_ group: Int, _ member: Int) -> [UInt8] { Array(String(format: "g%04d-%d", group, member).utf8) }

    /// A value carrying its tag three times: a torn, mixed or invented value fails `tag(of:)`.
    static func taggedValue(_ tag: String) -> [UInt8] { Array("\(tag);\(tag);\(tag);".utf8) }

    /// The tag of a value made by `taggedValue`, or nil if the value is not one.
    static func tag(of value: [UInt8]) -> String? {
        let parts = String(decoding: value, as: UTF8.self).split(separator: ";", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[3].isEmpty, parts[0] == parts[1], parts[1] == parts[2], parts[0].hasPrefix("w") else { return nil }
        return String(parts[0])
    }

    @Test("readers racing batch writers see every batch whole and every scan as one snapshot",
          arguments: subjects)
    func racingReadersSeeWholeBatches(subject: EngineUnderTest) throws {
        let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("\(subject.name): racing readers, seed \(seed) (replay with KVLAB_SEED=\(seed))")
        let engine = try subject.open()
        defer { try? engine.close() }
        var initial = WriteBatch()
        for g in 0..<Self.groups { for m in 0..<Self.groupSize { initial.put(Self.groupKey(g, m), Self.taggedValue("w0-0")) } }
        try engine.write(initial, options: .default)
        let problems = Mutex<[String]>([])
        let batchesPerWriter = 800
        let maxScansPerReader = 20_000
        let threadCount = 4
        // Explicit threads with a start barrier, and readers that run until the writers are
        // done: a pool such as concurrentPerform may run the writers to completion before the
        // readers start on a 2-core machine, and then nothing races.
        let ready = Atomic<Int>(0)
        let writersDone = Atomic<Int>(0)
        let scansDuringWrites = Atomic<Int>(0)
        let finished = DispatchGroup()
        for thread in 0..<threadCount {
            finished.enter()
            Thread {
                defer { finished.leave() }
                var rng = SeededRandom(seed: seed &+ UInt64(thread))
                func report(_ text: String) { problems.withLock { if $0.count < 20 { $0.append("thread \(thread): \(text) (seed \(seed))") } } }
                ready.wrappingAdd(1, ordering: .sequentiallyConsistent)
                while ready.load(ordering: .sequentiallyConsistent) < threadCount { sched_yield() }
                do {
                    if thread < 2 {
                        defer { writersDone.wrappingAdd(1, ordering: .sequentiallyConsistent) }
                        for n in 1...batchesPerWriter {
                            let g = Int(rng.next(below: UInt64(Self.groups)))
                            var batch = WriteBatch()
                            let deleting = rng.next(below: 5) == 0
                            for m in 0..<Self.groupSize {
                                if deleting { batch.delete(Self.groupKey(g, m)) } else { batch.put(Self.groupKey(g, m), Self.taggedValue("w\(thread + 1)-\(n)")) }
                            }
                            try engine.write(batch, options: .default)
                        }
                    } else {
                        var scans = 0
                        while scans < maxScansPerReader && writersDone.load(ordering: .sequentiallyConsistent) < 2 {
                            scans += 1
                            let pairs = try engine.scan(from: [], limit: .max)
                            var byGroup: [String: [String]] = [:]
                            for pair in pairs {
                                let name = String(decoding: pair.key, as: UTF8.self)
                                guard let tag = Self.tag(of: pair.value) else {
                                    report("scan saw \(name) with a value never written: \(String(decoding: pair.value, as: UTF8.self))")
                                    continue
                                }
                                byGroup[String(name.prefix(5)), default: []].append(tag)
                            }
                            for (group, tags) in byGroup where tags.count != Self.groupSize || Set(tags).count != 1 {
                                report("scan saw group \(group) torn: \(tags)")
                            }
                            let g = Int(rng.next(below: UInt64(Self.groups)))
                            if let v = try engine.get(Self.groupKey(g, 0)), Self.tag(of: v) == nil {
                                report("get returned a value never written: \(String(decoding: v, as: UTF8.self))")
                            }
                            if writersDone.load(ordering: .sequentiallyConsistent) < 2 { scansDuringWrites.wrappingAdd(1, ordering: .relaxed) }
                        }
                    }
                } catch { report("\(error)") }
            }.start()
        }
        finished.wait()
        print("\(subject.name): \(scansDuringWrites.load(ordering: .relaxed)) scans completed while writers ran")
        #expect(problems.withLock { $0 }.isEmpty, "\(subject.name): \(problems.withLock { $0 })")
        #expect(scansDuringWrites.load(ordering: .relaxed) > 0, "\(subject.name): no scan overlapped the writers")
        try engine.checkInvariants()
    }
}
