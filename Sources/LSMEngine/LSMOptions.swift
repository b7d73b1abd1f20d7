// The tunables of an LSM engine, with LevelDB's defaults where LevelDB has one.

import KVCore
import KVStorage

/// Options of `LSMEngine`.
public struct LSMOptions: Sendable {
    /// The engine's directory.
    public var directory: String
    /// Files go through this; tests pass a `FaultInjectingFileSystem`.
    public var fileSystem: any FileSystem
    /// Time source (stall accounting).
    public var clock: any MonotonicClock
    /// A memtable becomes immutable and is flushed once it holds this many bytes.
    public var memtableSize = 4 << 20
    /// Bytes of data blocks kept in the block cache.
    public var blockCacheSize = 8 << 20
    /// When acknowledged writes reach the OS and the disk (KVCore's shared policy):
    /// - `always`: the write group's log record is fsynced before any member returns; concurrent
    ///   writers share the fsync (group commit);
    /// - `periodic` (default, 1 s): each group's record is written to the log file (write(2))
    ///   before its writers return, so a killed process loses nothing it acknowledged; a
    ///   background thread fsyncs the log every interval, so a power loss loses at most that;
    /// - `buffered`: records collect in the log writer's 64 KiB user-space buffer and reach the
    ///   file when it fills, so a **killed process loses up to 64 KiB of acknowledged writes**.
    ///   What it buys, measured with `kvlab bench` (results/durability-lsm.md): one write(2) per
    ///   64 KiB instead of one per write group, about 2x on single-threaded fills (fillrandom
    ///   71k vs 36k ops/s, fillseq 129k vs 46k, on a noisy 2-core machine).
    /// `sync: true` writes are fsynced before they return under every policy.
    public var durability = DurabilityPolicy.default
    /// Target size of a data block before it is cut.
    public var blockSize = 4096
    public var bloomBitsPerKey = 10
    /// The filter layout new tables are written in (`BloomLayout`); tables in either are read.
    public var bloomLayout = BloomLayout.blocked
    /// Count what point reads do (`LSMEngine.readStatistics`): tables probed per level, filter
    /// outcomes, blocks checked on first use. Off by default: the counting get is a separate
    /// specialization, so the default get pays nothing for it.
    public var collectReadStatistics = false
    /// Compaction output files are cut at this size.
    public var targetFileSize: Int64 = 2 << 20
    /// Byte budget of level 1; each deeper level gets ten times the one above.
    public var level1MaxBytes: Int64 = 10 << 20
    /// L0 file count that triggers a compaction, slows writes by 1 ms each, stops writes.
    public var level0CompactionTrigger = 4
    public var level0SlowdownTrigger = 8
    public var level0StopTrigger = 12
    /// Seed of the memtable skiplists' tower heights.
    public var seed: UInt64 = 0x15A

    /// Options for an engine in `directory`.
    public init(directory: String, fileSystem: any FileSystem = PosixFileSystem(), clock: any MonotonicClock = SystemMonotonicClock()) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.clock = clock
    }

    func maxBytes(forLevel level: Int) -> Int64 {
        var bytes = level1MaxBytes
        var l = 1
        while l < level { bytes *= 10; l += 1 }
        return bytes
    }
}
