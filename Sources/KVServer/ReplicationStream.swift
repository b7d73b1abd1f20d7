// The replication stream's units and the full-sync snapshot: kvlab's own encodings, byte by byte.

import KVCore
import NIOCore
import RESP

/// The bytes a primary sends its replicas.
///
/// ## The stream
///
/// RESP arrays, as Redis's stream is, so offsets count RESP bytes and a replica parses it with
/// the server's command parser. Three commands occur:
///
///     REPLAPPLY <op>...        one write command's (or one MULTI/EXEC block's) engine mutations,
///                              applied atomically on the replica; each op is
///                              P <engine key> <record>   put
///                              D <engine key>            delete
///                              F                         FLUSHALL
///     REPLCONF GETACK *        the replica answers REPLCONF ACK <offset> at once
///     PING                     keeps an idle link's offset moving (Redis does the same)
///
/// Engine keys and records are `Keyspace`'s encoding, so deadlines travel as absolute times.
///
/// ## The snapshot (after `+FULLRESYNC <replid> <offset>`)
///
///     $<length>\r\n            as Redis frames its RDB, no trailing CRLF
///     "KVLSNAP1"               8-byte magic
///     records                  u32 BE key length | engine key | u32 BE value length | record
///     0xFFFFFFFF               end mark
///
/// It holds every engine record (main, member and index records) at exactly the stream
/// offset named in `+FULLRESYNC`: the primary builds it holding the replication order lock,
/// so no write lands between the snapshot and the stream that follows it.
enum ReplicationStream {
    static let applyCommand = "REPLAPPLY"
    static let snapshotMagic: [UInt8] = Array("KVLSNAP1".utf8)
    static let endMark: UInt32 = 0xFFFF_FFFF

    /// One unit, RESP-encoded.
    static func encode(_ operations: [ReplicatedOperation]) -> [UInt8] {
        var words: [[UInt8]] = [Array(applyCommand.utf8)]
        for op in operations {
            switch op {
            case .put(let key, let value): words += [[UInt8(ascii: "P")], key, value]
            case .delete(let key): words += [[UInt8(ascii: "D")], key]
            case .flushAll: words.append([UInt8(ascii: "F")])
            }
        }
        return encodeCommand(words)
    }

    /// A RESP array of bulk strings.
    static func encodeCommand(_ words: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + words.reduce(0) { $0 + $1.count + 16 })
        out += Array("*\(words.count)\r\n".utf8)
        for w in words {
            out += Array("$\(w.count)\r\n".utf8)
            out += w
            out += [13, 10]
        }
        return out
    }

    static let getAck = encodeCommand([Array("REPLCONF".utf8), Array("GETACK".utf8), [UInt8(ascii: "*")]])
    static let ping = encodeCommand([Array("PING".utf8)])

    /// Decodes a REPLAPPLY command's operations.
    /// - Throws: `ReplicationError.malformedStream` naming the argument.
    static func decode(_ command: RESPCommand) throws(ReplicationError) -> [ReplicatedOperation] {
        var ops: [ReplicatedOperation] = []
        var i = 1
        while i < command.count {
            let code = command.string(i)
            switch code {
            case "P":
                guard i + 2 < command.count else { throw .malformedStream("REPLAPPLY: put at argument \(i) lacks its key or record") }
                ops.append(.put(key: command.argument(i + 1), value: command.argument(i + 2)))
                i += 3
            case "D":
                guard i + 1 < command.count else { throw .malformedStream("REPLAPPLY: delete at argument \(i) lacks its key") }
                ops.append(.delete(key: command.argument(i + 1)))
                i += 2
            case "F":
                ops.append(.flushAll)
                i += 1
            default:
                throw .malformedStream("REPLAPPLY: argument \(i) is '\(code.prefix(16))', expected P, D or F")
            }
        }
        return ops
    }

    // MARK: Snapshot

    /// Every record of `engine`, in the snapshot encoding. The caller holds the command lock.
    /// - Throws: the engine's error, or `.unsupported` for an engine that can neither scan nor enumerate.
    static func snapshot(of engine: any KeyValueEngine) throws(EngineError) -> [UInt8] {
        var out = snapshotMagic
        let visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool = { key, value in
            appendU32(UInt32(key.count), &out)
            out.append(contentsOf: key)
            appendU32(UInt32(value.count), &out)
            out.append(contentsOf: value)
            return true
        }
        let base = (engine as? CapturingEngine)?.base ?? engine
        if let enumerable = base as? any RecordEnumerating {
            try enumerable.forEachRecord(visit)
        } else {
            try engine.scan(from: UnsafeRawBufferPointer(start: nil, count: 0), limit: .max, visit)
        }
        appendU32(endMark, &out)
        return out
    }

    /// The records of a snapshot.
    /// - Throws: `ReplicationError.malformedSnapshot` naming the byte offset and what was expected.
    static func records(of snapshot: [UInt8], _ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) throws(EngineError) -> Void) throws(ReplicationError) {
        guard snapshot.count >= 12, Array(snapshot[0..<8]) == snapshotMagic else {
            throw .malformedSnapshot(offset: 0, expected: "the magic KVLSNAP1")
        }
        var at = 8
        func u32() throws(ReplicationError) -> UInt32 {
            guard at + 4 <= snapshot.count else { throw .malformedSnapshot(offset: at, expected: "a 4-byte length") }
            let v = UInt32(snapshot[at]) << 24 | UInt32(snapshot[at + 1]) << 16 | UInt32(snapshot[at + 2]) << 8 | UInt32(snapshot[at + 3])
            at += 4
            return v
        }
        while true {
            let keyLength = try u32()
            if keyLength == endMark {
                guard at == snapshot.count else { throw .malformedSnapshot(offset: at, expected: "the end after the end mark") }
                return
            }
            guard at + Int(keyLength) <= snapshot.count else { throw .malformedSnapshot(offset: at, expected: "\(keyLength) key bytes") }
            let key = snapshot[at..<(at + Int(keyLength))]
            at += Int(keyLength)
            let valueLength = try u32()
            guard at + Int(valueLength) <= snapshot.count else { throw .malformedSnapshot(offset: at, expected: "\(valueLength) record bytes") }
            let value = snapshot[at..<(at + Int(valueLength))]
            at += Int(valueLength)
            do { try body(key, value) } catch { throw .engine(error) }
        }
    }

    private static func appendU32(_ v: UInt32, _ out: inout [UInt8]) {
        out.append(UInt8(v >> 24)); out.append(UInt8((v >> 16) & 0xFF)); out.append(UInt8((v >> 8) & 0xFF)); out.append(UInt8(v & 0xFF))
    }
}

/// What went wrong in replication, naming the place.
public enum ReplicationError: Error, Sendable, CustomStringConvertible {
    case malformedStream(String)
    case malformedSnapshot(offset: Int, expected: String)
    case handshake(String)
    case engine(EngineError)

    public var description: String {
        switch self {
        case .malformedStream(let what): "replication stream: \(what)"
        case let .malformedSnapshot(offset, expected): "replication snapshot: at byte \(offset), expected \(expected)"
        case .handshake(let what): "replication handshake: \(what)"
        case .engine(let error): "replication: engine error: \(error)"
        }
    }
}

/// The bytes of the stream kept for partial resynchronization: a ring of `capacity` bytes
/// holding the last `historyLength` bytes, whose last byte has offset `endOffset`.
struct ReplicationBacklog {
    private(set) var storage: [UInt8]
    private var writeIndex = 0
    private(set) var historyLength = 0
    /// The offset of the last byte appended (Redis's `master_repl_offset`).
    private(set) var endOffset: Int64

    init(capacity: Int, endOffset: Int64) {
        storage = [UInt8](repeating: 0, count: max(capacity, 1))
        self.endOffset = endOffset
    }

    var capacity: Int { storage.count }
    /// Offset of the oldest byte held (Redis's `repl_backlog_first_byte_offset`).
    var firstByteOffset: Int64 { endOffset - Int64(historyLength) + 1 }

    mutating func append(_ bytes: [UInt8]) {
        endOffset += Int64(bytes.count)
        var source = bytes[...]
        if source.count > capacity { source = source.suffix(capacity) }
        for b in source {
            storage[writeIndex] = b
            writeIndex += 1
            if writeIndex == capacity { writeIndex = 0 }
        }
        historyLength = min(capacity, historyLength + source.count)
    }

    /// Empties it and makes `offset` the last offset (after a full sync).
    mutating func reset(endOffset offset: Int64) {
        endOffset = offset
        historyLength = 0
        writeIndex = 0
    }

    /// Whether the bytes from `offset` (first byte wanted) to the end are held.
    func holds(from offset: Int64) -> Bool {
        offset >= firstByteOffset && offset <= endOffset + 1
    }

    /// The bytes from `offset` to the end; `holds(from:)` must be true.
    func bytes(from offset: Int64) -> [UInt8] {
        let count = Int(endOffset - offset + 1)
        guard count > 0 else { return [] }
        var start = writeIndex - count
        if start < 0 { start += capacity }
        var out = [UInt8]()
        out.reserveCapacity(count)
        if start + count <= capacity {
            out += storage[start..<(start + count)]
        } else {
            out += storage[start..<capacity]
            out += storage[0..<(count - (capacity - start))]
        }
        return out
    }
}
