// Typed errors of chaos experiments: a wrong experiment file, a cluster that would not start, a run that failed.

/// What went wrong in a chaos experiment.
public enum ChaosError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An experiment file's property is wrong: where it is, what was found, what was expected.
    case invalidProperty(path: String, line: Int?, key: String, found: String, expected: String)
    /// A required property is missing from an experiment file.
    case missingProperty(path: String, key: String, expected: String)
    /// An experiment file could not be read or parsed as properties.
    case unreadableExperiment(path: String, reason: String)
    /// The cluster, workload or nemesis failed while the experiment ran.
    case runFailed(stage: String, reason: String)
    /// The experiment did not finish within its time limit.
    case timeLimitExceeded(stage: String, limitSeconds: Double)

    public var description: String {
        switch self {
        case .invalidProperty(let path, let line, let key, let found, let expected):
            let place = line.map { "\(path):\($0)" } ?? path
            return "\(place): \(key) = '\(found)': expected \(expected)"
        case .missingProperty(let path, let key, let expected):
            return "\(path): missing property \(key): expected \(expected)"
        case .unreadableExperiment(let path, let reason):
            return "\(path): \(reason)"
        case .runFailed(let stage, let reason):
            return "chaos run failed while \(stage): \(reason)"
        case .timeLimitExceeded(let stage, let limit):
            return "chaos run exceeded its time limit of \(limit) s while \(stage)"
        }
    }
}
