// A change to the set of live tables: the record format of the manifest.

import KVCore

/// One manifest record: files added and removed, and the counters that must survive a restart.
///
/// The manifest is a `LogFormat` file (framing: `KVStorage.LogFormat`) whose every record is one
/// encoded `VersionEdit`; the first record of a manifest is a snapshot (every live file as
/// added). Byte by byte, an edit is a sequence of fields, each a varint tag then its data:
///
///     tag 1  log number          varint: logs numbered below it are no longer needed
///     tag 2  next file number    varint
///     tag 3  last sequence       varint
///     tag 4  compaction pointer  varint level | varint length | internal key bytes
///     tag 5  deleted file        varint level | varint file number
///     tag 6  new file            varint level | varint file number | varint file size |
///                                varint length | smallest internal key |
///                                varint length | largest internal key
///
/// Fields appear in any order; a reader applies them in order. An unknown tag is corruption.
struct VersionEdit: Equatable {
    struct NewFile: Equatable {
        var level: Int
        var number: UInt64
        var size: Int64
        var smallest: [UInt8]
        var largest: [UInt8]
    }

    var logNumber: UInt64?
    var nextFileNumber: UInt64?
    var lastSequence: UInt64?
    var compactionPointers: [(level: Int, key: [UInt8])] = []
    var deletedFiles: [(level: Int, number: UInt64)] = []
    var newFiles: [NewFile] = []

    static func == (a: VersionEdit, b: VersionEdit) -> Bool {
        a.logNumber == b.logNumber && a.nextFileNumber == b.nextFileNumber && a.lastSequence == b.lastSequence
            && a.compactionPointers.map(\.level) == b.compactionPointers.map(\.level)
            && a.compactionPointers.map(\.key) == b.compactionPointers.map(\.key)
            && a.deletedFiles.map(\.level) == b.deletedFiles.map(\.level)
            && a.deletedFiles.map(\.number) == b.deletedFiles.map(\.number) && a.newFiles == b.newFiles
    }

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func bytes(_ b: [UInt8]) { Varint.append(UInt64(b.count), to: &out); out.append(contentsOf: b) }
        if let logNumber { Varint.append(1, to: &out); Varint.append(logNumber, to: &out) }
        if let nextFileNumber { Varint.append(2, to: &out); Varint.append(nextFileNumber, to: &out) }
        if let lastSequence { Varint.append(3, to: &out); Varint.append(lastSequence, to: &out) }
        for p in compactionPointers { Varint.append(4, to: &out); Varint.append(UInt64(p.level), to: &out); bytes(p.key) }
        for d in deletedFiles { Varint.append(5, to: &out); Varint.append(UInt64(d.level), to: &out); Varint.append(d.number, to: &out) }
        for f in newFiles {
            Varint.append(6, to: &out)
            Varint.append(UInt64(f.level), to: &out)
            Varint.append(f.number, to: &out)
            Varint.append(UInt64(f.size), to: &out)
            bytes(f.smallest)
            bytes(f.largest)
        }
        return out
    }

    /// Decodes a record read from `path` at `offset` (for error messages).
    init(decoding record: [UInt8], path: String, offset: Int64, maxLevel: Int) throws(EngineError) {
        try record.withBytes { (raw) throws(EngineError) in
            var p = 0
            func fail(_ detail: String) -> EngineError {
                .corruption(file: path, offset: offset, detail: "manifest record byte \(p): \(detail)")
            }
            func varint(_ what: String) throws(EngineError) -> UInt64 {
                guard let (v, n) = Varint.read(raw, at: p) else { throw fail("expected a varint \(what)") }
                p += n
                return v
            }
            func level() throws(EngineError) -> Int {
                let l = try varint("level")
                guard l < UInt64(maxLevel) else { throw fail("level \(l) is not below \(maxLevel)") }
                return Int(l)
            }
            func bytes(_ what: String) throws(EngineError) -> [UInt8] {
                let n = try varint("\(what) length")
                guard n <= UInt64(raw.count - p) else { throw fail("\(what) of \(n) bytes runs past the record") }
                let b = Array(raw[p..<(p + Int(n))])
                p += Int(n)
                return b
            }
            func internalKey(_ what: String) throws(EngineError) -> [UInt8] {
                let k = try bytes(what)
                guard k.count >= InternalKey.trailerSize else { throw fail("\(what) of \(k.count) bytes is not an internal key") }
                return k
            }
            while p < raw.count {
                let tag = try varint("tag")
                switch tag {
                case 1: logNumber = try varint("log number")
                case 2: nextFileNumber = try varint("next file number")
                case 3: lastSequence = try varint("last sequence")
                case 4: compactionPointers.append((try level(), try internalKey("compaction pointer")))
                case 5: deletedFiles.append((try level(), try varint("file number")))
                case 6:
                    let l = try level()
                    let number = try varint("file number")
                    let size = try varint("file size")
                    guard size < UInt64(Int64.max) else { throw fail("file size \(size) too large") }
                    newFiles.append(NewFile(level: l, number: number, size: Int64(size),
                                            smallest: try internalKey("smallest key"), largest: try internalKey("largest key")))
                default: throw fail("unknown field tag \(tag)")
                }
            }
        }
    }

    init() {}
}
