// A group of puts and deletes applied together, encoded in one contiguous buffer.

/// A sequence of puts and deletes, applied in order by `KeyValueEngine.write(_:options:)`.
///
/// Encoding (one buffer, no per-operation allocation), repeated per operation:
///
///     tag (1 = put, 0 = delete) | varint keyLength | key | [varint valueLength | value]
///
/// The same layout becomes the payload of a write-ahead-log record in persistent engines.
public struct WriteBatch: Sendable, Hashable {
    /// One operation, as handed to `forEach`.
    public enum Operation {
        case put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
        case delete(key: UnsafeRawBufferPointer)
    }

    static let deleteTag: UInt8 = 0
    static let putTag: UInt8 = 1

    /// The encoded operations.
    public private(set) var encoded: [UInt8] = []
    /// Number of operations.
    public private(set) var count = 0

    public init() {}

    /// A batch decoded from `encoded`, checked for well-formedness.
    /// - Throws: `EngineError.malformedBatch` naming the byte offset of the first bad byte.
    public init(encoded: [UInt8]) throws(EngineError) {
        var n = 0
        try encoded.withBytes { (raw) throws(EngineError) in
            try Self.walk(raw) { _ in n += 1 }
        }
        self.encoded = encoded
        self.count = n
    }

    public var isEmpty: Bool { count == 0 }

    /// Appends a put of `value` under `key`.
    public mutating func put(_ key: some Collection<UInt8>, _ value: some Collection<UInt8>) {
        encoded.append(Self.putTag)
        Varint.append(UInt64(key.count), to: &encoded)
        encoded.append(contentsOf: key)
        Varint.append(UInt64(value.count), to: &encoded)
        encoded.append(contentsOf: value)
        count += 1
    }

    /// Appends a delete of `key`.
    public mutating func delete(_ key: some Collection<UInt8>) {
        encoded.append(Self.deleteTag)
        Varint.append(UInt64(key.count), to: &encoded)
        encoded.append(contentsOf: key)
        count += 1
    }

    /// Removes every operation, keeping the buffer's capacity.
    public mutating func removeAll() {
        encoded.removeAll(keepingCapacity: true)
        count = 0
    }

    /// Calls `body` for each operation in order. Buffers are valid only during the call.
    public func forEach<E: Error>(_ body: (Operation) throws(E) -> Void) throws(E) {
        try encoded.withBytes { (raw) throws(E) in
            // The encoding was produced by this type or validated in init(encoded:).
            var offset = 0
            while offset < raw.count {
                let tag = raw[offset]
                offset += 1
                let (keyCount, a) = Varint.read(raw, at: offset)!
                offset += a
                let key = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + Int(keyCount))])
                offset += Int(keyCount)
                if tag == Self.putTag {
                    let (valueCount, b) = Varint.read(raw, at: offset)!
                    offset += b
                    let value = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + Int(valueCount))])
                    offset += Int(valueCount)
                    try body(.put(key: key, value: value))
                } else {
                    try body(.delete(key: key))
                }
            }
        }
    }

    private static func walk(_ raw: UnsafeRawBufferPointer, _ body: (Int) -> Void) throws(EngineError) {
        var offset = 0
        while offset < raw.count {
            let start = offset
            let tag = raw[offset]
            guard tag == putTag || tag == deleteTag else {
                throw .malformedBatch(offset: offset, detail: "expected operation tag 0 (delete) or 1 (put), found \(tag)")
            }
            offset += 1
            for field in tag == putTag ? ["key", "value"] : ["key"] {
                guard let (length, n) = Varint.read(raw, at: offset) else {
                    throw .malformedBatch(offset: offset, detail: "expected a varint \(field) length")
                }
                offset += n
                guard length <= UInt64(raw.count - offset) else {
                    throw .malformedBatch(offset: offset, detail: "\(field) length \(length) runs past the end of the batch (\(raw.count - offset) bytes left)")
                }
                offset += Int(length)
            }
            body(start)
        }
    }
}
