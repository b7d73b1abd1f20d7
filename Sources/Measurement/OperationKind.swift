// The operation kinds, statuses and series names that kvlab measures, with YCSB's spelling.

/// An operation the driver times. The raw value indexes the recorder's arrays, so the hot path
/// never looks a series up by string.
public enum OperationKind: Int, CaseIterable, Sendable, Hashable {
    case read, update, insert, scan, readModifyWrite, delete, verify

    /// The series name YCSB prints, e.g. `READ`, `READ-MODIFY-WRITE`.
    public var ycsbName: String {
        switch self {
        case .read: "READ"
        case .update: "UPDATE"
        case .insert: "INSERT"
        case .scan: "SCAN"
        case .readModifyWrite: "READ-MODIFY-WRITE"
        case .delete: "DELETE"
        case .verify: "VERIFY"
        }
    }
}

/// The outcome of one operation, as YCSB's `Status` names it (`Return=OK`, `Return=NOT_FOUND`, ...).
public enum OperationStatus: Int, CaseIterable, Sendable, Hashable {
    case ok, batchedOK, error, notFound, notImplemented, unexpectedState, badRequest, forbidden, serviceUnavailable

    /// YCSB's status name, printed after `Return=`.
    public var ycsbName: String {
        switch self {
        case .ok: "OK"
        case .batchedOK: "BATCHED_OK"
        case .error: "ERROR"
        case .notFound: "NOT_FOUND"
        case .notImplemented: "NOT_IMPLEMENTED"
        case .unexpectedState: "UNEXPECTED_STATE"
        case .badRequest: "BAD_REQUEST"
        case .forbidden: "FORBIDDEN"
        case .serviceUnavailable: "SERVICE_UNAVAILABLE"
        }
    }

    /// Whether YCSB counts the latency in the plain series (`OK`, `BATCHED_OK`) rather than in `<OP>-FAILED`.
    // Always inlined: the recorder tests it on every operation, and as a call it cost ~8 instructions.
    @inlinable @inline(__always)
    public var isSuccess: Bool { self == .ok || self == .batchedOK }

    /// Orders status names for output: YCSB's statuses in declaration order, unknown names after them.
    static func outputOrder(_ lhs: String, _ rhs: String) -> Bool {
        let rank = { (name: String) -> Int in
            OperationStatus.allCases.first { $0.ycsbName == name }?.rawValue ?? Int.max
        }
        let (l, r) = (rank(lhs), rank(rhs))
        return l != r ? l < r : lhs < rhs
    }
}

/// Which timing of an operation a series holds.
public enum SeriesVariant: Int, CaseIterable, Sendable, Hashable {
    /// Service time of successful operations: `READ`.
    case service
    /// Service time of failed operations: `READ-FAILED` (YCSB's DBWrapper naming).
    case failed
    /// Latency from the intended start (coordinated-omission corrected), successful: `Intended-READ`.
    case intended
    /// Latency from the intended start, failed: `Intended-READ-FAILED`.
    case intendedFailed
}

/// One histogram series: an operation kind and a variant. Its `index` is dense in `0..<SeriesKey.count`.
public struct SeriesKey: Sendable, Hashable, CustomStringConvertible {
    public let kind: OperationKind
    public let variant: SeriesVariant

    @inlinable
    public init(_ kind: OperationKind, _ variant: SeriesVariant = .service) {
        self.kind = kind
        self.variant = variant
    }

    /// Number of distinct series keys.
    public static let count = OperationKind.allCases.count * SeriesVariant.allCases.count

    // The kind count as the last case's raw value + 1, not `allCases.count`: inlined into the
    // driver's loop (through `OperationRecorder.record`), `allCases` would build an array.
    @inlinable var index: Int { variant.rawValue &* (OperationKind.verify.rawValue &+ 1) &+ kind.rawValue }

    init(index: Int) {
        kind = OperationKind(rawValue: index % OperationKind.allCases.count)!
        variant = SeriesVariant(rawValue: index / OperationKind.allCases.count)!
    }

    /// All keys in output order: every kind's service then failed series, then the Intended ones (YCSB prints Intended-* last).
    public static var outputOrder: [SeriesKey] {
        var keys: [SeriesKey] = []
        for variants in [[SeriesVariant.service, .failed], [.intended, .intendedFailed]] {
            for kind in OperationKind.allCases {
                for variant in variants { keys.append(SeriesKey(kind, variant)) }
            }
        }
        return keys
    }

    /// The YCSB series name: `READ`, `READ-FAILED`, `Intended-READ`, `Intended-READ-FAILED`.
    public var name: String {
        switch variant {
        case .service: kind.ycsbName
        case .failed: kind.ycsbName + "-FAILED"
        case .intended: "Intended-" + kind.ycsbName
        case .intendedFailed: "Intended-" + kind.ycsbName + "-FAILED"
        }
    }

    public var description: String { name }
}
