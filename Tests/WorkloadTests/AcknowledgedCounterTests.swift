// The acknowledged counter: the limit only advances over contiguous acknowledgements.

import Dispatch
import KVCore
import Synchronization
import Testing
@testable import Workload

@Suite("Acknowledged counter")
struct AcknowledgedCounterTests {
    @Test("the limit advances only over contiguous acknowledgements")
    func contiguous() throws {
        let counter = AcknowledgedCounter(start: 1000)
        #expect(counter.limit == 999)
        #expect((0..<4).map { _ in counter.next() } == [1000, 1001, 1002, 1003])
        try counter.acknowledge(1002)
        try counter.acknowledge(1001)
        #expect(counter.limit == 999)
        try counter.acknowledge(1000)
        #expect(counter.limit == 1002)
        try counter.acknowledge(1001)  // again: ignored
        try counter.acknowledge(1003)
        #expect(counter.limit == 1003)
    }

    @Test("an acknowledgement more than a window past the limit is an error")
    func windowOverflow() throws {
        let counter = AcknowledgedCounter(start: 0, windowSize: 8)
        try counter.acknowledge(7)  // limit -1: 0...7 fit the window
        let error = workloadError { try counter.acknowledge(8) }
        #expect(error == .tooManyUnacknowledgedInserts(keyNumber: 8, limit: -1, window: 8))
        for k in 0..<7 { try counter.acknowledge(Int64(k)) }
        #expect(counter.limit == 7)
        try counter.acknowledge(15)
        #expect(counter.limit == 7)
    }

    @Test("concurrent out-of-order acknowledgements end at the last number, the limit never going back")
    func concurrent() throws {
        let seed = testSeed(21)
        let counter = AcknowledgedCounter(start: 500, windowSize: 1 << 16)
        let acknowledged = Mutex<Set<Int64>>([])
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            var rng = SeededRandom(seed: seed &+ UInt64(thread))
            var mine = (0..<5000).map { _ in counter.next() }
            mine.shuffle(using: &rng)
            var lastSeen = counter.limit
            for k in mine {
                do { try counter.acknowledge(k) } catch { failures.add(1, ordering: .relaxed) }
                acknowledged.withLock { _ = $0.insert(k) }
                let limit = counter.limit
                if limit < lastSeen { failures.add(1, ordering: .relaxed) }
                lastSeen = limit
                // Every number up to the limit was acknowledged (it was marked before the limit moved).
                if limit >= 500, k % 97 == 0, !acknowledged.withLock({ $0.contains(limit) }) { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(counter.limit == 500 + 20_000 - 1)
    }
}
