// A driver target wrapper whose operations run inside functions with fixed symbol names, for callgrind.
//
// Counting mode measures instructions instead of time: `valgrind --tool=callgrind
// --toggle-collect=kvlab_counted_*` collects events only inside these functions, so the workload
// generator, the driver's timing and histogram recording stay out of the count, and each
// function's inclusive cost is the cost of one operation kind on the target. The names are given
// with `@_silgen_name` because Swift's mangled names change with the module layout.

import Driver
import Measurement
import Workload

/// Wraps a target so each operation kind runs in its own never-inlined, fixed-name function.
public struct CountingTarget: DriverTarget {
    /// The target whose operations are counted.
    public let inner: any DriverTarget

    /// Wraps `inner`.
    public init(_ inner: any DriverTarget) { self.inner = inner }

    public var description: String { inner.description }
    public var supportsOrderedScan: Bool { inner.supportsOrderedScan }

    public func makeSession(thread: Int) throws(DriverError) -> any TargetSession {
        CountingSession(inner: try inner.makeSession(thread: thread))
    }

    /// The symbol of the function each YCSB operation series runs in.
    public static let symbols: [(series: String, symbol: String)] = [
        ("READ", "kvlab_counted_read"), ("UPDATE", "kvlab_counted_update"), ("INSERT", "kvlab_counted_insert"),
        ("SCAN", "kvlab_counted_scan"), ("DELETE", "kvlab_counted_delete"),
    ]
}

final class CountingSession: TargetSession {
    let inner: any TargetSession
    init(inner: any TargetSession) { self.inner = inner }

    func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus {
        kvlabCountedRead(inner, operation, verifier)
    }
    func update(_ operation: PlannedOperation) -> OperationStatus { kvlabCountedUpdate(inner, operation) }
    func insert(_ operation: PlannedOperation) -> OperationStatus { kvlabCountedInsert(inner, operation) }
    func scan(_ operation: PlannedOperation) -> OperationStatus { kvlabCountedScan(inner, operation) }
    func delete(_ operation: PlannedOperation) -> OperationStatus { kvlabCountedDelete(inner, operation) }
    func close() { inner.close() }
}

@_silgen_name("kvlab_counted_read") @inline(never)
func kvlabCountedRead(_ session: any TargetSession, _ operation: PlannedOperation, _ verifier: RecordVerifier?) -> OperationStatus {
    session.read(operation, verifier: verifier)
}

@_silgen_name("kvlab_counted_update") @inline(never)
func kvlabCountedUpdate(_ session: any TargetSession, _ operation: PlannedOperation) -> OperationStatus {
    session.update(operation)
}

@_silgen_name("kvlab_counted_insert") @inline(never)
func kvlabCountedInsert(_ session: any TargetSession, _ operation: PlannedOperation) -> OperationStatus {
    session.insert(operation)
}

@_silgen_name("kvlab_counted_scan") @inline(never)
func kvlabCountedScan(_ session: any TargetSession, _ operation: PlannedOperation) -> OperationStatus {
    session.scan(operation)
}

@_silgen_name("kvlab_counted_delete") @inline(never)
func kvlabCountedDelete(_ session: any TargetSession, _ operation: PlannedOperation) -> OperationStatus {
    session.delete(operation)
}
