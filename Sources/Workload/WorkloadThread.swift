// The per-thread half of the operation stream: one driver thread's random choices and buffers.

import KVCore

/// Plans the operations of one driver thread.
///
/// Made by `CoreWorkload.makeThread(index:)`. It owns a `SeededRandom` derived from the
/// workload's seed and the thread index, its own copy of every generator, and the buffers its
/// `PlannedOperation`s point into. Not thread-safe: one instance per driver thread.
public struct WorkloadThread {
    /// The shared workload.
    public let workload: CoreWorkload
    /// This thread's index.
    public let index: Int
    /// The seed of this thread's random stream.
    public let seed: UInt64

    var rng: SeededRandom
    var keyChooser: KeyChooser
    var fieldLength: FieldLengthGenerator
    var scanLength: ScanLengthGenerator
    var fieldChooser: UniformGenerator
    let buffers: OperationBuffers
    let thresholds: OperationThresholds
    let namer: KeyNamer
    let fieldCount: Int
    let readSelectionAll: FieldSelection
    let readAllFields: Bool
    let writeAllFields: Bool
    let dataIntegrity: Bool
    let constantFieldLength: Int?
    let counter: AcknowledgedCounter
    var integrityScratch: [UInt8] = []

    init(workload: CoreWorkload, index: Int) {
        let c = workload.configuration
        self.workload = workload
        self.index = index
        seed = c.seed ^ (UInt64(truncatingIfNeeded: index) &+ 1) &* 0x9E37_79B9_7F4A_7C15
        rng = SeededRandom(seed: seed)
        keyChooser = workload.keyChooserPrototype
        fieldLength = workload.fieldLengthPrototype
        scanLength = workload.scanLengthPrototype
        fieldChooser = UniformGenerator(min: 0, max: Int64(c.fieldCount - 1))
        namer = workload.keyNamer
        fieldCount = c.fieldCount
        buffers = OperationBuffers(keyCapacity: namer.maximumLength, fieldCount: c.fieldCount,
                                   maximumValueLength: Int(workload.fieldLengthPrototype.maximum))
        thresholds = workload.thresholds
        readAllFields = c.readAllFields
        readSelectionAll = c.readsAllFieldsByName ? .allByName : .all
        writeAllFields = c.writeAllFields
        dataIntegrity = c.dataIntegrity
        if case .constant(let n) = workload.fieldLengthPrototype { constantFieldLength = Int(n) } else { constantFieldLength = nil }
        counter = workload.acknowledgedCounter
    }

    // MARK: - Load phase

    /// The next load-phase insert (key numbers from the counter shared by all threads, from
    /// insertstart up to insertstart + insertcount), or nil when the load is complete.
    public mutating func nextLoadOperation() -> PlannedOperation? {
        let keyNumber = workload.loadCounter.wrappingAdd(1, ordering: .relaxed).oldValue
        guard keyNumber < workload.configuration.loadEnd else { return nil }
        return plannedInsert(keyNumber)
    }

    // MARK: - Run phase

    /// The next run-phase operation, chosen by the operation proportions. Keys come from the
    /// request distribution, redrawn until acknowledged (at or below the acknowledged limit).
    /// After executing an `.insert`, call `acknowledgeInsert(_:)` with its key number.
    public mutating func nextTransactionOperation() -> PlannedOperation {
        let draw = rng.next()
        switch thresholds.kind(draw) {
        case .read:
            let keyNumber = nextKeyNumber()
            return planned(.read, keyNumber, read: readSelection(), write: 0..<0, scan: 0)
        case .update:
            let keyNumber = nextKeyNumber()
            let key = writeKey(keyNumber)
            let fields = writeSelection(key: key)
            return planned(.update, keyNumber, key: key, read: .none, write: fields, scan: 0)
        case .insert:
            return plannedInsert(counter.next(), kind: .insert)
        case .scan:
            let keyNumber = nextKeyNumber()
            let length = Int(scanLength.next(using: &rng))
            let read: FieldSelection = readAllFields ? .all : .one(Int(fieldChooser.next(using: &rng)))
            return planned(.scan, keyNumber, read: read, write: 0..<0, scan: length)
        case .readModifyWrite:
            let keyNumber = nextKeyNumber()
            let key = writeKey(keyNumber)
            let read = readSelection()
            let fields = writeSelection(key: key)
            return planned(.readModifyWrite, keyNumber, key: key, read: read, write: fields, scan: 0)
        case .delete:
            let keyNumber = nextKeyNumber()
            return planned(.delete, keyNumber, read: .none, write: 0..<0, scan: 0)
        }
    }

    /// Marks a run-phase insert as executed (successfully or not), so readers may choose it.
    /// - Throws: `WorkloadError.tooManyUnacknowledgedInserts` when the window overflows.
    public func acknowledgeInsert(_ keyNumber: Int64) throws(WorkloadError) {
        try counter.acknowledge(keyNumber)
    }

    /// A key number from the request distribution, at or below the acknowledged limit.
    public mutating func nextKeyNumber() -> Int64 {
        let limit = counter.limit
        switch keyChooser.distribution {
        case .uniform:
            var k: Int64
            repeat { k = keyChooser.uniform!.next(using: &rng) } while k > limit
            return k
        case .zipfian:
            var k: Int64
            repeat { k = keyChooser.scrambled!.next(using: &rng) } while k > limit
            return k
        case .latest:
            return keyChooser.latest!.next(limit: limit, using: &rng)
        case .hotspot:
            var k: Int64
            repeat { k = keyChooser.hotspot!.next(using: &rng) } while k > limit
            return k
        case .sequential:
            var k: Int64
            repeat {
                let c = workload.sequentialCounter.wrappingAdd(1, ordering: .relaxed).oldValue
                k = keyChooser.sequential!.value(at: c)
            } while k > limit
            return k
        case .exponential:
            var k: Int64
            repeat { k = limit - keyChooser.exponential!.next(using: &rng) } while k < 0
            return k
        }
    }

    // MARK: - Building operations

    @inline(__always)
    mutating func readSelection() -> FieldSelection {
        readAllFields ? readSelectionAll : .one(Int(fieldChooser.next(using: &rng)))
    }

    @inline(__always)
    mutating func writeKey(_ keyNumber: Int64) -> UnsafeRawBufferPointer {
        let length = namer.write(keyNumber, to: buffers.key)
        return UnsafeRawBufferPointer(start: buffers.key, count: length)
    }

    /// Fills the values of one random field, or of all with writeallfields; returns their indices.
    @inline(__always)
    mutating func writeSelection(key: UnsafeRawBufferPointer) -> Range<Int> {
        if writeAllFields {
            for field in 0..<fieldCount { fillValue(field, key: key) }
            return 0..<fieldCount
        }
        let field = Int(fieldChooser.next(using: &rng))
        fillValue(field, key: key)
        return field..<(field + 1)
    }

    @inline(__always)
    mutating func fillValue(_ field: Int, key: UnsafeRawBufferPointer) {
        let length = constantFieldLength ?? Int(fieldLength.next(using: &rng))
        buffers.valueLengths[field] = length
        let slot = buffers.values + field * buffers.valueStride
        if dataIntegrity {
            DataIntegrity.write(key: key, field: workload.fieldNames[field], length: length, to: slot, scratch: &integrityScratch)
        } else {
            RandomValues.fill(slot, count: length, using: &rng)
        }
    }

    mutating func plannedInsert(_ keyNumber: Int64, kind: OperationKind = .insert) -> PlannedOperation {
        let key = writeKey(keyNumber)
        for field in 0..<fieldCount { fillValue(field, key: key) }
        return planned(kind, keyNumber, key: key, read: .none, write: 0..<fieldCount, scan: 0)
    }

    @inline(__always)
    mutating func planned(_ kind: OperationKind, _ keyNumber: Int64, read: FieldSelection, write: Range<Int>, scan: Int) -> PlannedOperation {
        planned(kind, keyNumber, key: writeKey(keyNumber), read: read, write: write, scan: scan)
    }

    @inline(__always)
    mutating func planned(_ kind: OperationKind, _ keyNumber: Int64, key: UnsafeRawBufferPointer, read: FieldSelection,
                 write: Range<Int>, scan: Int) -> PlannedOperation {
        PlannedOperation(kind: kind, keyNumber: keyNumber, key: key, readFields: read, writeFields: write,
                         scanLength: scan, buffers: buffers)
    }
}
