// What `kvlab bench` runs: the phases, the key space and the record shape.

import KVCore

/// One db_bench-style phase.
public enum BenchPhase: String, CaseIterable, Sendable {
    /// Fresh engine; put keys 0..<num in ascending order.
    case fillseq
    /// Fresh engine; put every key once in a random permutation.
    case fillrandom
    /// Put every key again, in a new random permutation.
    case overwrite
    /// `num` gets of uniformly random keys, all of which were written.
    case readrandom
    /// One ordered scan over every record (ordered engines only).
    case readseq
    /// Delete every key in a random permutation.
    case deleterandom

    /// Phases that run on the store filled by `fillrandom`.
    var needsRandomFill: Bool {
        switch self {
        case .fillseq, .fillrandom: return false
        default: return true
        }
    }
}

/// One step of a run: a phase, and for fill and overwrite phases an optional value size that
/// replaces the run's (`overwrite:1024` writes 1 KiB values; used to measure fragmentation).
public struct BenchStep: Sendable, Equatable {
    public var phase: BenchPhase
    public var valueSize: Int?

    public init(_ phase: BenchPhase, valueSize: Int? = nil) {
        self.phase = phase
        self.valueSize = valueSize
    }

    /// `phase` or `phase:valueSize`.
    public var name: String { valueSize.map { "\(phase.rawValue):\($0)" } ?? phase.rawValue }
}

/// The parameters of a bench run. The key sequence is fixed by `seed`, so runs of kvlab and of
/// the C++ reference program (`Benchmarks/reference/kvbench_std.cpp`) touch the same keys in the
/// same order.
public struct BenchConfiguration: Sendable, Equatable {
    public var num: Int
    public var keySize: Int
    public var valueSize: Int
    public var seed: UInt64
    public var steps: [BenchStep]

    public init(num: Int = 1_000_000, keySize: Int = 16, valueSize: Int = 100, seed: UInt64 = 301,
                phases: [BenchPhase] = BenchPhase.allCases) {
        self.init(num: num, keySize: keySize, valueSize: valueSize, seed: seed, steps: phases.map { BenchStep($0) })
    }

    public init(num: Int, keySize: Int, valueSize: Int, seed: UInt64, steps: [BenchStep]) {
        self.num = num
        self.keySize = keySize
        self.valueSize = valueSize
        self.seed = seed
        self.steps = steps
    }

    /// The phases of the steps, in order.
    public var phases: [BenchPhase] { steps.map(\.phase) }

    /// Parses a comma-separated step list such as `fillrandom,overwrite:1024,readrandom`.
    /// - Throws: `BenchError.unknownPhase` or `.invalid` naming the bad entry.
    public static func parseSteps(_ text: String) throws(BenchError) -> [BenchStep] {
        var steps: [BenchStep] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.trimmingSpaces.split(separator: ":", maxSplits: 1).map(String.init)
            guard let phase = BenchPhase(rawValue: parts[0]) else {
                throw .unknownPhase(name: parts[0], known: BenchPhase.allCases.map(\.rawValue))
            }
            var size: Int? = nil
            if parts.count == 2 {
                guard [.fillseq, .fillrandom, .overwrite].contains(phase), let n = Int(parts[1]), n >= 0 else {
                    throw .invalid(parameter: "benchmarks", value: String(item),
                                   expected: "a value size in bytes after ':' (fillseq, fillrandom and overwrite only)")
                }
                size = n
            }
            steps.append(BenchStep(phase, valueSize: size))
        }
        return steps
    }

    /// Parses a comma-separated phase list such as `fillseq,readrandom`.
    public static func parsePhases(_ text: String) throws(BenchError) -> [BenchPhase] {
        try parseSteps(text).map(\.phase)
    }

    /// Checks that keys fit `keySize` and the sizes are sane.
    public func validate() throws(BenchError) {
        guard num > 0 else { throw .invalid(parameter: "num", value: "\(num)", expected: "a positive number of keys") }
        let digits = String(num - 1).count
        guard keySize >= digits else {
            throw .invalid(parameter: "key-size", value: "\(keySize)",
                           expected: "at least \(digits) bytes to hold key numbers up to \(num - 1)")
        }
        guard valueSize >= 0 else { throw .invalid(parameter: "value-size", value: "\(valueSize)", expected: "a size >= 0") }
        guard !steps.isEmpty else { throw .invalid(parameter: "benchmarks", value: "", expected: "at least one phase") }
    }
}

/// Errors of a bench run.
public enum BenchError: Error, Equatable, CustomStringConvertible {
    case unknownPhase(name: String, known: [String])
    case invalid(parameter: String, value: String, expected: String)
    case engine(phase: String, EngineError)
    /// A read returned a value that was never written for that key.
    case wrongValue(phase: String, key: String)

    public var description: String {
        switch self {
        case let .unknownPhase(name, known):
            return "unknown benchmark '\(name)'; known: \(known.joined(separator: ","))"
        case let .invalid(parameter, value, expected):
            return "--\(parameter) \(value): expected \(expected)"
        case let .engine(phase, error):
            return "\(phase): \(error)"
        case let .wrongValue(phase, key):
            return "\(phase): key \(key) returned a value of the wrong size"
        }
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
