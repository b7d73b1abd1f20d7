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
public struct LogReader {
    /// The path of the file read, for error messages.
    public let path: String
    private let bytes: [UInt8]
    private var position = 0
    private let checksumFailureAtEndIsTorn: Bool

    /// The offset after the last complete record returned.
    public private(set) var lastGoodOffset: Int64 = 0
    /// Where and why the log ended inside a record, if it did.
    public private(set) var tornTail: (offset: Int64, detail: String)?

    /// A reader over the whole of `file`.
    /// - Throws: `StorageError` if the file cannot be read.
    public init(file: any StorageFile, checksumFailureAtEndIsTorn: Bool = false) throws(StorageError) {
        self.path = file.path
        let size = try file.size()
        self.bytes = try file.readExactly(at: 0, count: Int(size))
        self.checksumFailureAtEndIsTorn = checksumFailureAtEndIsTorn
    }

    /// The next record's payload, or nil at the end of the log (clean or torn).
    /// - Throws: `StorageError.corruption` naming the file and the offset of the bad fragment.
    public mutating func next() throws(StorageError) -> [UInt8]? {
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
