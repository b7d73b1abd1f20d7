// The two modules' operation kinds side by side: Workload plans them, Measurement records them.
// (Kept in a file without Foundation, whose `Measurement` type would shadow the module name.)

import Measurement
import Workload

/// An operation kind as the workload plans it.
public typealias PlannedKind = Workload.OperationKind
/// An operation kind as the recorder times it (adds VERIFY).
public typealias MeasuredKind = Measurement.OperationKind

extension Workload.OperationKind {
    /// The series this kind is timed in.
    var measured: Measurement.OperationKind {
        switch self {
        case .read: .read
        case .update: .update
        case .insert: .insert
        case .scan: .scan
        case .readModifyWrite: .readModifyWrite
        case .delete: .delete
        }
    }
}
