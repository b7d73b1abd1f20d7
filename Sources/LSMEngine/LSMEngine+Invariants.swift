// The engine's self-check: level ordering, no overlap in L1+, and each table's metadata against
// its contents.

import KVCore

extension LSMEngine {
    public func checkInvariants() throws(EngineError) {
        let (_, _, version, _) = try readState()
        let comparator = InternalKeyComparator()
        for (level, files) in version.files.enumerated() {
            for (i, file) in files.enumerated() {
                let where_ = "level \(level) table \(FileNames.table(file.number))"
                let ordered = file.smallest.withUnsafeBytes { a in file.largest.withUnsafeBytes { b in comparator.compare(a, b) <= 0 } }
                guard ordered else { throw .corruption(file: file.path, offset: 0, detail: "\(where_): smallest key sorts after largest") }
                if level > 0 && i > 0 {
                    let previous = files[i - 1]
                    let apart = previous.largest.withUnsafeBytes { a in file.smallest.withUnsafeBytes { b in
                        ByteOrder.compare(InternalKey.userKey(a), InternalKey.userKey(b)) < 0 } }
                    guard apart else {
                        throw .corruption(file: file.path, offset: 0,
                                          detail: "\(where_) overlaps \(FileNames.table(previous.number)) in the same level")
                    }
                }
                try checkTable(file, label: where_)
            }
        }
    }

    private func checkTable(_ file: FileMetaData, label: String) throws(EngineError) {
        let table = try file.table()
        guard table.fileSize == file.size else {
            throw .corruption(file: file.path, offset: 0, detail: "\(label): file has \(table.fileSize) bytes, manifest says \(file.size)")
        }
        let iterator = try TableIterator(table: table, target: nil, cache: BlockCache(capacity: 0))
        let comparator = InternalKeyComparator()
        var previous: [UInt8]? = nil
        var count: UInt64 = 0
        while iterator.isValid {
            let key = iterator.key
            guard key.count >= InternalKey.trailerSize else { throw .corruption(file: file.path, offset: 0, detail: "\(label): entry key shorter than its trailer") }
            if let previous {
                guard previous.withUnsafeBytes({ comparator.compare($0, key) < 0 }) else {
                    throw .corruption(file: file.path, offset: 0, detail: "\(label): keys out of order at entry \(count)")
                }
            } else {
                guard file.smallest.withUnsafeBytes({ ByteOrder.equal($0, key) }) else {
                    throw .corruption(file: file.path, offset: 0, detail: "\(label): first key \(InternalKey.describe(Array(key))) is not the manifest's smallest \(InternalKey.describe(file.smallest))")
                }
            }
            previous = Array(key)
            count += 1
            try iterator.next()
        }
        guard let last = previous, last == file.largest else {
            throw .corruption(file: file.path, offset: 0, detail: "\(label): last key is not the manifest's largest \(InternalKey.describe(file.largest))")
        }
        guard count == table.entryCount else {
            throw .corruption(file: file.path, offset: 0, detail: "\(label): \(count) entries, footer says \(table.entryCount)")
        }
    }
}
