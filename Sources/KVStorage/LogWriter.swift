// Appends records to a log file in the framing of `LogFormat`, buffering until flush or sync.

import KVCore

/// Writes records in `LogFormat` framing (see there for the bytes).
///
/// Appends go to an in-memory buffer; `flush()` writes the buffer to the file and `sync()`
/// also makes it durable. A record is therefore durable only after `sync()` returns, and
/// survives the death of the process only after `flush()` returns. Not thread-safe: the owner
/// serializes calls.
public final class LogWriter {
    /// The file written.
    public let file: any StorageFile
    /// Bytes of the file already written out (the buffer starts here).
    private var flushedOffset: Int64
    private var buffer: [UInt8] = []
    private let bufferLimit: Int
    /// Offset within the current block of the next fragment.
    private var blockOffset: Int

    /// A writer appending to `file`, whose first `offset` bytes are already framed records.
    /// - Parameters:
    ///   - file: the log file.
    ///   - offset: where appending starts (the file's size when reopening a log).
    ///   - bufferLimit: bytes buffered before they are written out without being asked.
    public init(file: any StorageFile, offset: Int64 = 0, bufferLimit: Int = 64 * 1024) {
        self.file = file
        self.flushedOffset = offset
        self.bufferLimit = bufferLimit
        self.blockOffset = Int(offset % Int64(LogFormat.blockSize))
        buffer.reserveCapacity(bufferLimit + LogFormat.blockSize)
    }

    /// The log's size including buffered bytes.
    public var size: Int64 { flushedOffset + Int64(buffer.count) }

    /// Appends one record.
    /// - Throws: `StorageError` if writing out a full buffer fails.
    public func append(_ payload: UnsafeRawBufferPointer) throws(StorageError) {
        var left = payload.count
        var position = 0
        var begin = true
        repeat {
            let room = LogFormat.blockSize - blockOffset
            if room < LogFormat.headerSize {
                buffer.append(contentsOf: repeatElement(0, count: room))  // the block trailer
                blockOffset = 0
            }
            let available = LogFormat.blockSize - blockOffset - LogFormat.headerSize
            let fragment = min(left, available)
            let end = fragment == left
            let type: LogFormat.FragmentType = begin && end ? .full : begin ? .first : end ? .last : .middle
            appendFragment(type, UnsafeRawBufferPointer(rebasing: payload[position..<(position + fragment)]))
            position += fragment
            left -= fragment
            begin = false
        } while left > 0
        if buffer.count >= bufferLimit { try flush() }
    }

    /// Appends one record.
    public func append(_ payload: [UInt8]) throws(StorageError) {
        try payload.withBytes { (raw) throws(StorageError) in try append(raw) }
    }

    private func appendFragment(_ type: LogFormat.FragmentType, _ payload: UnsafeRawBufferPointer) {
        var crc: UInt32 = 0
        withUnsafeBytes(of: type.rawValue) { crc = CRC32C.checksum($0) }
        crc = CRC32C.mask(CRC32C.checksum(payload, continuing: crc))
        withUnsafeBytes(of: crc.littleEndian) { buffer.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt16(payload.count).littleEndian) { buffer.append(contentsOf: $0) }
        buffer.append(type.rawValue)
        buffer.append(contentsOf: payload)
        blockOffset += LogFormat.headerSize + payload.count
    }

    /// Writes buffered records to the file (not durably).
    public func flush() throws(StorageError) {
        guard !buffer.isEmpty else { return }
        try file.write(at: flushedOffset, buffer)
        flushedOffset += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes buffered records and makes the whole log durable.
    public func sync() throws(StorageError) {
        try flush()
        try file.sync()
    }

    /// Flushes and closes the file.
    public func close() throws(StorageError) {
        try flush()
        try file.close()
    }

    /// Closes the file without writing the buffered records: after a failure, when nothing more
    /// may reach the file (a half-written or unacknowledged record must not follow it there).
    public func abandon() {
        buffer.removeAll()
        try? file.close()
    }
}
