// Per-phase lines on what an engine did internally (lsm: point-read counts, tree shape), for kvlab bench.

import KVCore
import LSMEngine

/// Turns an engine's own counters into report lines after each bench phase: for `lsm`, the
/// point-read counts of the phase (with `--option read-stats=true`), the background work done
/// during it and whether more is pending, and the tree's shape. Other engines give no lines.
public final class EngineStatisticsReport {
    private var lastReads: LSMReadStatistics?
    private var lastBackground: (flushes: Int, compactions: Int, trivialMoves: Int)?
    private weak var lastEngine: LSMEngine?

    public init() {}

    /// Lines describing `engine` after `phase`, relative to the previous call on the same engine.
    public func lines(for engine: any KeyValueEngine, phase: String) -> [String] {
        guard let lsm = engine as? LSMEngine else { return [] }
        if lastEngine !== lsm { lastReads = nil; lastBackground = nil; lastEngine = lsm }
        var lines: [String] = []
        if let reads = lsm.readStatistics {
            let d = reads.subtracting(lastReads ?? LSMReadStatistics())
            lastReads = reads
            if d.gets > 0 {
                let n = Double(d.gets)
                func per(_ x: Int) -> String { String(format: "%.3f", Double(x) / n) }
                let levels = d.filterChecks.enumerated().filter { $0.element > 0 }.map { "L\($0.offset) \(per($0.element))" }.joined(separator: " ")
                let positives = d.filterTruePositives + d.filterFalsePositives
                lines.append("lsm reads    : \(d.gets) gets; per get: memtable answered \(per(d.memtableAnswers)), "
                             + "L0 tables \(per(d.level0TablesSeen)), filter checks [\(levels)], negatives \(per(d.filterNegatives)), "
                             + "true positives \(per(d.filterTruePositives)), false positives \(per(d.filterFalsePositives)) "
                             + "(\(String(format: "%.2f", positives > 0 ? 100 * Double(d.filterFalsePositives) / Double(d.filterFalsePositives + d.filterNegatives) : 0))% of absent-key checks), "
                             + "blocks verified \(per(d.blocksVerified)) after \(phase)")
            }
        }
        let progress = lsm.backgroundProgress
        let before = lastBackground ?? (0, 0, 0)
        lastBackground = (progress.flushes, progress.compactions, progress.trivialMoves)
        let shape = lsm.levelSummary.enumerated().filter { $0.element.files > 0 }
            .map { "L\($0.offset) \($0.element.files) files \($0.element.bytes >> 20) MiB" }.joined(separator: ", ")
        lines.append("lsm tree     : \(shape); during the phase \(progress.flushes - before.flushes) flushes, "
                     + "\(progress.compactions - before.compactions) compactions, \(progress.trivialMoves - before.trivialMoves) moves; "
                     + "work pending: \(progress.pending ? "yes" : "no") after \(phase)")
        return lines
    }
}
