// Counts of what point reads do (tables probed per level, filter outcomes), for `kvlab bench`.

import Synchronization

/// What the engine's gets did since it was opened, collected only when
/// `LSMOptions.collectReadStatistics` is on (`LSMEngine.readStatistics`). Subtract two
/// snapshots for one phase.
public struct LSMReadStatistics: Sendable, Equatable {
    /// Gets counted.
    public var gets = 0
    /// Gets the memtable or the immutable memtable answered (found or deleted).
    public var memtableAnswers = 0
    /// Per level: tables whose filter a get consulted (their key range held the key).
    public var filterChecks = [Int](repeating: 0, count: Version.levelCount)
    /// Filter said "absent": the table was not searched.
    public var filterNegatives = 0
    /// Filter said "maybe" and the table held the key (a value or a tombstone).
    public var filterTruePositives = 0
    /// Filter said "maybe" and the table did not hold the key (a false positive: index and
    /// data block searched for nothing).
    public var filterFalsePositives = 0
    /// Sum over gets of the level-0 table count of the version the get read.
    public var level0TablesSeen = 0
    /// Data blocks whose checksum a get verified (first use of the block in a mapped table).
    public var blocksVerified = 0

    public init() {}

    /// The counts of `self` minus `earlier` (an older snapshot).
    public func subtracting(_ earlier: LSMReadStatistics) -> LSMReadStatistics {
        var d = self
        d.gets -= earlier.gets
        d.memtableAnswers -= earlier.memtableAnswers
        for i in d.filterChecks.indices { d.filterChecks[i] -= earlier.filterChecks[i] }
        d.filterNegatives -= earlier.filterNegatives
        d.filterTruePositives -= earlier.filterTruePositives
        d.filterFalsePositives -= earlier.filterFalsePositives
        d.level0TablesSeen -= earlier.level0TablesSeen
        d.blocksVerified -= earlier.blocksVerified
        return d
    }
}

/// Told what one get does; the default get runs with `NoReadProbe`, whose methods are empty
/// and vanish when the generic read path is specialized.
protocol ReadProbe {
    mutating func level0(tables: Int)
    mutating func filter(level: Int, positive: Bool)
    mutating func tableDecided(_ decided: Bool)
    mutating func blockVerified()
}

struct NoReadProbe: ReadProbe {
    @inline(__always) mutating func level0(tables: Int) {}
    @inline(__always) mutating func filter(level: Int, positive: Bool) {}
    @inline(__always) mutating func tableDecided(_ decided: Bool) {}
    @inline(__always) mutating func blockVerified() {}
}

/// Counts one get, on the stack; added to the engine's totals once the get ends.
struct CountingReadProbe: ReadProbe {
    var level0Tables = 0
    var checks: (Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0)
    var negatives = 0, truePositives = 0, falsePositives = 0, verified = 0

    mutating func level0(tables: Int) { level0Tables = tables }
    mutating func filter(level: Int, positive: Bool) {
        switch level {
        case 0: checks.0 += 1
        case 1: checks.1 += 1
        case 2: checks.2 += 1
        case 3: checks.3 += 1
        case 4: checks.4 += 1
        case 5: checks.5 += 1
        default: checks.6 += 1
        }
        if !positive { negatives += 1 }
    }
    mutating func tableDecided(_ decided: Bool) { if decided { truePositives += 1 } else { falsePositives += 1 } }
    mutating func blockVerified() { verified += 1 }
}

/// The engine's running totals (a mutex: only the counting get, a measurement mode, takes it).
final class ReadStatisticsCollector: Sendable {
    private let totals = Mutex(LSMReadStatistics())

    func add(_ probe: CountingReadProbe, memtableAnswered: Bool) {
        totals.withLock { t in
            t.gets += 1
            if memtableAnswered { t.memtableAnswers += 1 }
            let c = probe.checks
            t.filterChecks[0] += c.0; t.filterChecks[1] += c.1; t.filterChecks[2] += c.2; t.filterChecks[3] += c.3
            t.filterChecks[4] += c.4; t.filterChecks[5] += c.5; t.filterChecks[6] += c.6
            t.filterNegatives += probe.negatives
            t.filterTruePositives += probe.truePositives
            t.filterFalsePositives += probe.falsePositives
            t.level0TablesSeen += probe.level0Tables
            t.blocksVerified += probe.verified
        }
    }

    var snapshot: LSMReadStatistics { totals.withLock { $0 } }
}
