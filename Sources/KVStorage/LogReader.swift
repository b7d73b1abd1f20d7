// Reads the records of a `LogFormat` file, telling a torn tail (end of the log) from corruption.

import KVCore

/// Reads records written by `LogWriter`, in order.
///
/// The whole file is read block by block. `next()` returns each record's payload; at the end
/// it returns nil, and `tornTail` says whether the log ended inside a record (a write cut off
/// by a crash). `lastGoodOffset` is then the offset after the last complete record, where the
/// owner may truncate the file.
///
/// What counts as torn: a header or payload cut off by the end of the file; a run of zeros to
/// the end of the file; and, when `checksumFailureAtEndIsTorn` is set (the write-ahead log,
/// whose unsynced tail may hold garbage after a power cut), a checksum mismatch in a fragment
/// that reaches the end of the file. Anything else that fails a check is corruption.
///
/// With `stopAtDamage` (point-in-time recovery), `next()` never throws for damaged bytes: it
/// returns nil at the first damage of any kind (torn, zeros, holes, garbage) and `damage` says
/// where; `salvage()` then finds the intact records after it, which tell the owner whether the
/// damage lies in data known to be synced (report it) or in the unsynced tail (cut it off).
public struct LogReader {
    /// The path of the file read, for error messages.
    public let path: String
    private let bytes: [UInt8]
    private var position = 0
    private let checksumFailureAtEndIsTorn: Bool
    private let stopAtDamage: Bool
    /// The damaged fragment's start and its header's payload length (for `salvage()`).
    private var damagedFragment: (start: Int, length: Int)?

    /// The offset after the last complete record returned.
    public private(set) var lastGoodOffset: Int64 = 0
    /// Where and why the log ended inside a record, if it did.
    public private(set) var tornTail: (offset: Int64, detail: String)?
    /// With `stopAtDamage`: where the readable log ended early and why — the start of the record
    /// the damage is in (`lastGoodOffset`) and the offset of the damaged bytes.
    public private(set) var damage: (recordOffset: Int64, offset: Int64, detail: String)?

    /// A reader over the whole of `file`.
    /// - Throws: `StorageError` if the file cannot be read.
    /// - Parameters:
    ///   - checksumFailureAtEndIsTorn: a checksum mismatch in a fragment that reaches the end of
    ///     the file (or zeros) ends the log instead of being corruption.
    ///   - stopAtDamage: any damage ends the log (see `damage`, `salvage()`); nothing throws.
    public init(file: any StorageFile, checksumFailureAtEndIsTorn: Bool = false, stopAtDamage: Bool = false) throws(StorageError) {
        self.path = file.path
        let size = try file.size()
        self.bytes = try file.readExactly(at: 0, count: Int(size))
        self.checksumFailureAtEndIsTorn = checksumFailureAtEndIsTorn
        self.stopAtDamage = stopAtDamage
    }

    /// The total size of the file read.
    public var fileSize: Int64 { Int64(bytes.count) }

    /// The next record, or nil at the end of the log or at damage (with `stopAtDamage`).
    public mutating func next() throws(StorageError) -> [UInt8]? {
        guard stopAtDamage else { return try nextRecord() }
        if damage != nil { return nil }
        do {
            let record = try nextRecord()
            if record == nil, let torn = tornTail {
                damage = (lastGoodOffset, torn.offset, torn.detail)
                damagedFragment = nil
            }
            return record
        } catch {
            if case let .corruption(_, offset, detail) = error {
                damage = (lastGoodOffset, offset, detail)
                tornTail = (lastGoodOffset, detail)
            }
            position = bytes.count
            return nil
        }
    }

    /// After `next()` stopped at damage: the complete, checksum-valid records found after it,
    /// with their offsets. Parsing resumes after the damaged fragment when its length is
    /// plausible, else at the next 32 KiB block, and skips to the next block at each failure —
    /// or, with `scanEveryOffset` (small files: the manifest), tries every following offset.
    public func salvage(scanEveryOffset: Bool = false) -> [(offset: Int64, payload: [UInt8])] {
        guard let damage else { return [] }
        var found: [(offset: Int64, payload: [UInt8])] = []
        var at = Int(damage.offset)
        if scanEveryOffset {
            at += 1
        } else if let fragment = damagedFragment, fragment.start == at,
           fragment.start + LogFormat.headerSize + fragment.length <= (fragment.start / LogFormat.blockSize + 1) * LogFormat.blockSize {
            at = fragment.start + LogFormat.headerSize + fragment.length
        } else {
            at = (at / LogFormat.blockSize + 1) * LogFormat.blockSize
        }
        var record: [UInt8] = []
        var recordStart: Int? = nil
        while at < bytes.count {
            let blockEnd = (at / LogFormat.blockSize + 1) * LogFormat.blockSize
            guard blockEnd - at >= LogFormat.headerSize, let fragment = intactFragment(at: at, blockEnd: blockEnd) else {
                at = scanEveryOffset ? at + 1 : blockEnd
                recordStart = nil
                record.removeAll()
                continue
            }
            let payload = bytes[(at + LogFormat.headerSize)..<(at + LogFormat.headerSize + fragment.length)]
            switch fragment.type {
            case .full:
                found.append((Int64(at), Array(payload)))
                recordStart = nil
            case .first:
                recordStart = at
                record = Array(payload)
            case .middle:
                if recordStart != nil { record.append(contentsOf: payload) }
            case .last:
                if let start = recordStart {
                    record.append(contentsOf: payload)
                    found.append((Int64(start), record))
                }
                recordStart = nil
            }
            at += LogFormat.headerSize + fragment.length
        }
        return found
    }

    /// The fragment at `at` if its header is sane and its checksum matches.
    private func intactFragment(at: Int, blockEnd: Int) -> (type: LogFormat.FragmentType, length: Int)? {
        guard bytes.count - at >= LogFormat.headerSize else { return nil }
        let storedCRC = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        let length = Int(bytes[at + 4]) | Int(bytes[at + 5]) << 8
        guard let type = LogFormat.FragmentType(rawValue: bytes[at + 6]) else { return nil }
        let payloadStart = at + LogFormat.headerSize
        guard payloadStart + length <= blockEnd, payloadStart + length <= bytes.count else { return nil }
        let actual = bytes.withUnsafeBytes { raw -> UInt32 in
            let t = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(at + 6)..<(at + 7)]))
            return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[payloadStart..<(payloadStart + length)]), continuing: t)
        }
        guard CRC32C.unmask(storedCRC) == actual else { return nil }
        return (type, length)
    }

    /// The next record's payload, or nil at the end of the log (clean or torn).
    /// - Throws: `StorageError.corruption` naming the file and the offset of the bad fragment.
    private mutating func nextRecord() throws(StorageError) -> [UInt8]? {
        var record: [UInt8] = []
        var recordStart: Int? = nil
        while true {
            let blockEnd = (position / LogFormat.blockSize + 1) * LogFormat.blockSize
            if blockEnd - position < LogFormat.headerSize {
                // Trailer: zeros up to the next block.
                if bytes.count <= blockEnd {
                    return endOfFile(inRecord: recordStart, detail: "file ends in a block trailer")
                }
                position = blockEnd
                continue
            }
            if position == bytes.count {
                return endOfFile(inRecord: recordStart, detail: "file ends after a FIRST or MIDDLE fragment")
            }
            let start = position
            if bytes.count - start < LogFormat.headerSize {
                return endOfFile(inRecord: recordStart ?? start, detail: "file ends inside a fragment header")
            }
            let storedCRC = UInt32(bytes[start]) | UInt32(bytes[start + 1]) << 8 | UInt32(bytes[start + 2]) << 16 | UInt32(bytes[start + 3]) << 24
            let length = Int(bytes[start + 4]) | Int(bytes[start + 5]) << 8
            let typeByte = bytes[start + 6]
            if storedCRC == 0 && length == 0 && typeByte == 0 && restIsZero(from: start) {
                return endOfFile(inRecord: recordStart ?? start, detail: "zero-filled tail")
            }
            let payloadStart = start + LogFormat.headerSize
            damagedFragment = (start, length)
            guard payloadStart + length <= blockEnd else {
                throw .corruption(path: path, offset: Int64(start),
                                  detail: "fragment length \(length) crosses the 32 KiB block boundary at \(blockEnd)")
            }
            guard let type = LogFormat.FragmentType(rawValue: typeByte) else {
                throw .corruption(path: path, offset: Int64(start), detail: "fragment type \(typeByte) is not 1...4")
            }
            if payloadStart + length > bytes.count {
                return endOfFile(inRecord: recordStart ?? start, detail: "file ends inside a fragment's payload")
            }
            let actual = bytes.withUnsafeBytes { raw -> UInt32 in
                let t = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + 6)..<(start + 7)]))
                return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[payloadStart..<(payloadStart + length)]), continuing: t)
            }
            if CRC32C.unmask(storedCRC) != actual {
                if checksumFailureAtEndIsTorn && (payloadStart + length == bytes.count || restIsZero(from: payloadStart + length)) {
                    return endOfFile(inRecord: recordStart ?? start, detail: "checksum mismatch in the last fragment")
                }
                throw .corruption(path: path, offset: Int64(start), detail: "fragment checksum mismatch")
            }
            position = payloadStart + length
            switch type {
            case .full:
                guard recordStart == nil else {
                    throw .corruption(path: path, offset: Int64(start), detail: "FULL fragment inside a fragmented record")
                }
                lastGoodOffset = Int64(position)
                return Array(bytes[payloadStart..<position])
            case .first:
                guard recordStart == nil else {
                    throw .corruption(path: path, offset: Int64(start), detail: "FIRST fragment inside a fragmented record")
                }
                recordStart = start
                record.append(contentsOf: bytes[payloadStart..<position])
            case .middle, .last:
                guard recordStart != nil else {
                    throw .corruption(path: path, offset: Int64(start), detail: "\(type == .middle ? "MIDDLE" : "LAST") fragment without a FIRST")
                }
                record.append(contentsOf: bytes[payloadStart..<position])
                if type == .last {
                    lastGoodOffset = Int64(position)
                    return record
                }
            }
        }
    }

    private mutating func endOfFile(inRecord start: Int?, detail: String) -> [UInt8]? {
        if let start { tornTail = (Int64(start), detail) }
        position = bytes.count
        return nil
    }

    private func restIsZero(from offset: Int) -> Bool {
        var i = offset
        while i < bytes.count { if bytes[i] != 0 { return false }; i += 1 }
        return true
    }
}
