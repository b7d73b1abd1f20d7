// Errors that stop a run before or while it executes.

import KVCore
import Workload

/// Why the driver could not run a workload.
public enum DriverError: Error, Equatable, CustomStringConvertible {
    /// The workload needs a capability the target lacks (e.g. scans on an unordered engine).
    case missingCapability(target: String, capability: String, neededBy: String)
    /// The engine failed to open or close.
    case engine(EngineError)
    /// The workload raised an error (e.g. too many unacknowledged inserts).
    case workload(WorkloadError)
    /// Something about the run's settings is unusable.
    case invalid(String)
    /// The requested clock cannot be used on this machine (`--clock tsc` where the time-stamp
    /// counter is not the kernel's reliable clocksource); the reason names the file or flag.
    case clockUnavailable(String)

    public var description: String {
        switch self {
        case let .missingCapability(target, capability, neededBy):
            return "\(target) lacks the \(capability) capability, which \(neededBy) needs"
        case let .engine(error):
            return error.description
        case let .workload(error):
            return error.description
        case let .invalid(message):
            return message
        case let .clockUnavailable(reason):
            return "the TSC clock cannot be used: \(reason) (use --clock monotonic or auto)"
        }
    }
}
