// The shared half of the operation stream: configuration, key naming and the shared counters.

import KVCore
import Synchronization

/// YCSB's CoreWorkload, shared by every driver thread.
///
/// It holds what threads must agree on — the load-phase insert counter (from `insertstart`),
/// the run-phase `AcknowledgedCounter` (from `recordcount`), the shared sequential key counter —
/// and the generators' one-time setup (zeta sums). Each driver thread calls `makeThread(index:)`
/// once and plans its operations on the returned `WorkloadThread`, which has its own seeded
/// random stream, so a run with the same seed and thread count replays the same choices per thread.
public final class CoreWorkload: Sendable {
    public let configuration: CoreWorkloadConfiguration
    /// Key numbers to key names.
    public let keyNamer: KeyNamer
    /// Field names ("field0", ...) as bytes, indexed by field.
    public let fieldNames: [[UInt8]]
    /// Run-phase insert numbers and the acknowledged limit readers respect.
    public let acknowledgedCounter: AcknowledgedCounter

    let loadCounter: Atomic<Int64>
    let sequentialCounter = Atomic<Int64>(0)
    let keyChooserPrototype: KeyChooser
    let fieldLengthPrototype: FieldLengthGenerator
    let scanLengthPrototype: ScanLengthGenerator
    let thresholds: OperationThresholds

    /// Sets up generators for `configuration`.
    /// - Throws: `WorkloadError.inconsistent` when the run phase has no keys to choose from.
    public init(configuration: CoreWorkloadConfiguration) throws(WorkloadError) {
        let c = configuration
        self.configuration = c
        keyNamer = KeyNamer(hashed: c.insertOrder == .hashed, zeroPadding: c.zeroPadding)
        fieldNames = (0..<c.fieldCount).map { Array(c.fieldName($0).utf8) }
        acknowledgedCounter = AcknowledgedCounter(start: c.recordCount)
        loadCounter = Atomic(c.insertStart)
        thresholds = OperationThresholds(c)

        switch c.fieldLengthDistribution {
        case .constant: fieldLengthPrototype = .constant(c.fieldLength)
        case .uniform: fieldLengthPrototype = .uniform(UniformGenerator(min: c.minFieldLength, max: c.fieldLength))
        case .zipfian: fieldLengthPrototype = .zipfian(ZipfianGenerator(min: c.minFieldLength, max: c.fieldLength, theta: c.zipfianConstant))
        case .histogram: fieldLengthPrototype = .histogram(c.fieldLengthHistogram!)
        }
        switch c.scanLengthDistribution {
        case .uniform: scanLengthPrototype = .uniform(UniformGenerator(min: c.minScanLength, max: c.maxScanLength))
        case .zipfian: scanLengthPrototype = .zipfian(ZipfianGenerator(min: c.minScanLength, max: c.maxScanLength, theta: c.zipfianConstant))
        }
        if c.doTransactions && c.insertCount < 1 {
            throw .inconsistent("insertcount=\(c.insertCount) (recordcount=\(c.recordCount), insertstart=\(c.insertStart)): the run phase needs at least one record to choose keys from")
        }
        keyChooserPrototype = KeyChooser(c)
    }

    /// The per-thread planner for driver thread `index` (0-based).
    public func makeThread(index: Int) -> WorkloadThread {
        WorkloadThread(workload: self, index: index)
    }

    /// Marks a run-phase insert as done (after the engine returned, successfully or not).
    /// - Throws: `WorkloadError.tooManyUnacknowledgedInserts` when the window overflows.
    public func acknowledgeInsert(_ keyNumber: Int64) throws(WorkloadError) {
        try acknowledgedCounter.acknowledge(keyNumber)
    }

    /// Load-phase inserts handed out so far (at most insertcount).
    public var loadInsertsIssued: Int64 {
        min(loadCounter.load(ordering: .relaxed), configuration.loadEnd) - configuration.insertStart
    }

    // MARK: Data integrity

    /// The value `dataintegrity` expects for `field` of the record named `key`.
    public func expectedValue(key: UnsafeRawBufferPointer, field: Int) -> [UInt8] {
        let length = Int(configuration.fieldLength)
        var scratch: [UInt8] = []
        return [UInt8](unsafeUninitializedCapacity: max(length, 1)) { buffer, count in
            DataIntegrity.write(key: key, field: fieldNames[field], length: length, to: buffer.baseAddress!, scratch: &scratch)
            count = length
        }
    }

    /// Whether `value` is what `dataintegrity` expects for `field` of record `key`.
    public func verify(key: UnsafeRawBufferPointer, field: Int, value: UnsafeRawBufferPointer) -> Bool {
        guard field >= 0, field < fieldNames.count, value.count == Int(configuration.fieldLength) else { return false }
        return expectedValue(key: key, field: field).withUnsafeBytes { $0.elementsEqual(value) }
    }

    /// `verify(key:field:value:)` on strings and arrays (tests, tools).
    public func verify(key: String, field: Int, value: [UInt8]) -> Bool {
        Array(key.utf8).withUnsafeBytes { k in value.withUnsafeBytes { v in verify(key: k, field: field, value: v) } }
    }
}

/// The operation mix as cumulative thresholds on a 64-bit draw, in YCSB's order
/// (read, update, insert, scan, read-modify-write) then delete.
struct OperationThresholds: Sendable {
    let read: UInt64, update: UInt64, insert: UInt64, scan: UInt64, readModifyWrite: UInt64

    init(_ c: CoreWorkloadConfiguration) {
        let sum = c.proportionSum
        var cumulative = 0.0
        func next(_ p: Double) -> UInt64 {
            cumulative += p
            let scaled = cumulative / sum * 0x1p64
            return scaled >= 0x1p64 ? .max : UInt64(scaled)
        }
        read = next(c.readProportion)
        update = next(c.updateProportion)
        insert = next(c.insertProportion)
        scan = next(c.scanProportion)
        readModifyWrite = next(c.readModifyWriteProportion)
    }

    @inline(__always)
    func kind(_ draw: UInt64) -> OperationKind {
        if draw < read { return .read }
        if draw < update { return .update }
        if draw < insert { return .insert }
        if draw < scan { return .scan }
        if draw < readModifyWrite { return .readModifyWrite }
        return .delete
    }
}

/// The run-phase key chooser for `requestdistribution`, as YCSB sets it up.
struct KeyChooser: Sendable {
    let distribution: RequestDistribution
    var uniform: UniformGenerator?
    var scrambled: ScrambledZipfianGenerator?
    var latest: SkewedLatestGenerator?
    var hotspot: HotspotGenerator?
    var exponential: ExponentialGenerator?
    let sequential: SequentialGenerator?

    init(_ c: CoreWorkloadConfiguration) {
        distribution = c.requestDistribution
        let first = c.insertStart, last = c.insertStart + c.insertCount - 1
        var sequential: SequentialGenerator? = nil
        switch c.requestDistribution {
        case .uniform:
            uniform = UniformGenerator(min: first, max: last)
        case .zipfian:
            // YCSB widens the range by twice the expected run-phase inserts; keys not yet
            // acknowledged are redrawn.
            let expectedNewKeys = Int64(Double(c.operationCount) * c.insertProportion * 2)
            scrambled = ScrambledZipfianGenerator(min: first, max: first + c.insertCount + expectedNewKeys, theta: c.zipfianConstant)
        case .latest:
            latest = SkewedLatestGenerator(initialLimit: c.recordCount - 1, theta: c.zipfianConstant)
        case .hotspot:
            hotspot = HotspotGenerator(min: first, max: last, hotDataFraction: c.hotspotDataFraction, hotOperationFraction: c.hotspotOperationFraction)
        case .sequential:
            sequential = SequentialGenerator(min: first, max: last)
        case .exponential:
            exponential = ExponentialGenerator(percentile: c.exponentialPercentile, range: Double(c.recordCount) * c.exponentialFraction)
        }
        self.sequential = sequential
    }
}
