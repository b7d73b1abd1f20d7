// A synced write whose leader was already past the failure check when the periodic syncer's
// fsync failed must not be acknowledged on the strength of a second fsync of the same file
// (which, after EIO, reports success over the pages the kernel dropped).

import Foundation
import KVCore
import KVStorage
import Testing
@testable import LSMEngine

@Suite("LSM periodic syncer failure vs a synced write in flight")
struct SyncFailureRaceTests {
    @Test("a sync write in flight when the background fsync fails is not acknowledged, or survives a power loss")
    func syncWriteAfterFailedBackgroundFsync() throws {
        let fs = FaultInjectingFileSystem()
        let options = LSMTest.options(fs, memtable: 4 << 20)
        let engine = try LSMEngine(options: options)
        // An unsynced write: in the OS (periodic), not on the disk.
        try engine.put(LSMTest.key(1), LSMTest.value(1, version: 0))
        // A synced write whose leader stalls in write(2), past every failure check.
        let gate = fs.block(.write)
        let outcome = Outcome()
        let writer = Thread {
            do {
                try engine.put(LSMTest.key(2), LSMTest.value(2, version: 0), options: WriteOptions(sync: true))
                outcome.set(true)
            } catch {
                outcome.set(false)
            }
        }
        writer.start()
        #expect(ReviewDefectTests.eventually { gate.isWaiting })
        // Meanwhile the periodic syncer's fsync fails (EIO: the kernel drops the unsynced pages).
        fs.inject(.sync)
        #expect(engine.syncLogInBackground())
        gate.open()
        #expect(ReviewDefectTests.eventually { outcome.get() != nil })
        let acknowledged = outcome.get() == true
        // The power goes.
        fs.crash()
        engine.abandon()
        fs.clearFaults()
        let reopened = try LSMEngine(options: options)
        defer { try? reopened.close() }
        if acknowledged {
            #expect(try reopened.get(LSMTest.key(2)) == LSMTest.value(2, version: 0),
                    "a write acknowledged as synced after the log's fsync had failed was lost")
        }
    }

    final class Outcome: @unchecked Sendable {
        private let lock = Lock()
        private var value: Bool?
        func set(_ v: Bool) { lock.withLock { value = v } }
        func get() -> Bool? { lock.withLock { value } }
    }
}
