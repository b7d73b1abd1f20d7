// The B+tree over the pager: lookups, inserts with splits, deletes with merges, ordered scans.

import KVCore

/// A copy-on-write B+tree. `BTreeEngine` calls the mutating methods with its writer lock held;
/// readers call `get` and `scan` at any time with the root and height of a pinned snapshot,
/// whose pages no writer changes (see `Pager`).
///
/// Keys in a branch page separate its children: child `i` holds the keys below cell `i`'s key
/// (and at or above cell `i - 1`'s), the rightmost child the keys at or above the last cell's
/// key. Separators are the shortest prefix of the right half's first key that sorts above the
/// left half's last key, so long keys rarely reach branch pages whole.
///
/// Fill: an inline cell is at most a quarter of the page, so a split leaves both halves at
/// least 3/8 full. After a removal shrinks a page, it is merged with a neighbour whenever one
/// of the two is under a quarter full and their cells (plus the separator, for branches) fit
/// in one page. Hence no two adjacent siblings are both under a quarter full.
final class BTree {
    let pager: Pager
    @exclusivity(unchecked) var root: UInt64
    @exclusivity(unchecked) var height: Int
    @exclusivity(unchecked) var recordCount: UInt64
    let capacity: Int
    let maximumCell: Int
    let maximumKeyPrefix: Int
    /// Cell bytes being built (writer only).
    private let scratch: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var path: [(page: Page, child: Int)] = []

    init(pager: Pager, meta: MetaPage) {
        self.pager = pager
        self.root = meta.root
        self.height = meta.height
        self.recordCount = meta.recordCount
        self.capacity = PageLayout.capacity(pager.pageSize)
        self.maximumCell = PageLayout.maximumCell(pager.pageSize)
        self.maximumKeyPrefix = PageLayout.maximumKeyPrefix(pager.pageSize)
        self.scratch = .allocate(byteCount: pager.pageSize, alignment: 16)
        path.reserveCapacity(16)
    }

    deinit { scratch.deallocate() }

    // MARK: Keys

    /// The whole key of a cell, reading its overflow chain if it has one.
    func fullKey(_ key: CellKey) throws(EngineError) -> [UInt8] {
        var out = [UInt8](UnsafeRawBufferPointer(start: key.bytes, count: key.inlineCount))
        if !key.isComplete {
            out.reserveCapacity(key.fullCount)
            try pager.readChain(key.overflow, skip: 0, length: key.fullCount - key.inlineCount) { out.append(contentsOf: $0) }
        }
        return out
    }

    @inline(__always)
    func search(_ node: Node, _ key: UnsafeRawBufferPointer) throws(EngineError) -> (index: Int, found: Bool) {
        try node.search(key) { (k) throws(EngineError) in try fullKey(k) }
    }

    /// `search` for a reader on a page of a pinned snapshot (a `Page`'s bytes, unchanging while
    /// the reader is on it): through the page's `PrefixIndex` when it has one.
    @inline(__always)
    func readerSearch(_ node: Node, _ key: UnsafeRawBufferPointer) throws(EngineError) -> (index: Int, found: Bool) {
        if let r = PrefixIndex(base: node.base + node.pageSize).search(node, key) { return r }
        return try search(node, key)
    }

    /// The branch child that holds `key`.
    @inline(__always)
    func childIndex(_ node: Node, _ key: UnsafeRawBufferPointer) throws(EngineError) -> Int {
        let (i, found) = try search(node, key)
        return found ? i + 1 : i
    }

    @inline(__always)
    private func checkedNode(_ page: Page, depth: Int, height: Int) throws(EngineError) -> Node {
        try checkedNode(page.node, number: page.number, depth: depth, height: height)
    }

    /// `node` (page `number`), checked to be a leaf at the bottom level and a branch above it.
    @inline(__always)
    func checkedNode(_ node: Node, number: UInt64, depth: Int, height: Int) throws(EngineError) -> Node {
        let expected: PageType = depth == height - 1 ? .leaf : .branch
        if node.type != expected.rawValue { throw wrongType(node, number: number, depth: depth, height: height, expected: expected) }
        return node
    }

    @inline(__always)
    private func checkedNode(_ page: Page, depth: Int) throws(EngineError) -> Node {
        try checkedNode(page, depth: depth, height: height)
    }

    private func wrongType(_ node: Node, number: UInt64, depth: Int, height: Int, expected: PageType) -> EngineError {
        .corruption(file: pager.path, offset: Int64(number) * Int64(pager.pageSize) + 4,
                    detail: "page \(number): type \(node.type) at depth \(depth) of \(height), expected \(expected)")
    }

    // MARK: Reading

    /// Applies `body` to the value under `key` in the tree at `root` of `height`, or returns nil.
    ///
    /// The descent reads pages in place through the cache's lock-free reader path (inside one
    /// reader epoch, see `PageCache`): no lock, no reference counting, no copy per page. An
    /// inline value goes to `body` in place, inside the epoch. An overflow value's chain is read
    /// after leaving the epoch, through the counted `page()` path: a reader sitting in the epoch
    /// while it reads a long chain would keep every page evicted meanwhile in limbo. (The chain
    /// pages stay valid: the caller's snapshot pin keeps them from being freed and reused.)
    func get<R>(_ key: UnsafeRawBufferPointer, root: UInt64, height: Int, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        guard root != 0 else { return nil }
        let cache = pager.cache
        let chain: LeafValue
        do {
            let parity = cache.enterReader()
            defer { cache.exitReader(parity) }
            let pageSize = pager.pageSize
            var number = root
            var depth = 0
            while true {
                let node = try checkedNode(Node(base: try pager.readerBytes(number), pageSize: pageSize), number: number, depth: depth, height: height)
                if node.isLeaf {
                    let (i, found) = try readerSearch(node, key)
                    guard found else { return nil }
                    let value = node.leafValue(i)
                    if let inline = value.inline { return body(inline) }
                    chain = value
                    break
                }
                let (i, found) = try readerSearch(node, key)
                number = node.child(found ? i + 1 : i)
                depth += 1
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(chain.length)
        try pager.readChain(chain.overflow, skip: chain.skip, length: chain.length) { bytes.append(contentsOf: $0) }
        return bytes.withUnsafeBytes { body($0) }
    }

    func withValue<R>(_ node: Node, _ i: Int, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R {
        let value = node.leafValue(i)
        if let inline = value.inline { return body(inline) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.length)
        try pager.readChain(value.overflow, skip: value.skip, length: value.length) { bytes.append(contentsOf: $0) }
        return bytes.withUnsafeBytes { body($0) }
    }

    /// Visits records with keys >= `start` in order, up to `limit`, until `visit` returns false,
    /// in the tree at `root` of `height`, with a `BTreeCursor`.
    func scan(from start: UnsafeRawBufferPointer, limit: Int, root: UInt64, height: Int,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        guard root != 0, limit > 0 else { return }
        var cursor = BTreeCursor(tree: self, root: root, height: height)
        try cursor.seek(start)
        var visited = 0
        while cursor.isValid {
            let keepGoing = try cursor.withRecord(visit)
            visited += 1
            if !keepGoing || visited >= limit { return }
            try cursor.next()
        }
    }

    /// A cursor over the tree at `root` of `height` (a pinned snapshot), not yet positioned.
    func cursor(root: UInt64, height: Int) -> BTreeCursor {
        BTreeCursor(tree: self, root: root, height: height)
    }

    // MARK: Writing

    /// Descends to the leaf for `key`, recording the path. Returns the leaf.
    private func descend(_ key: UnsafeRawBufferPointer) throws(EngineError) -> Page {
        path.removeAll(keepingCapacity: true)
        var page = try pager.page(root)
        var depth = 0
        while !(try checkedNode(page, depth: depth)).isLeaf {
            let ci = try childIndex(page.node, key)
            path.append((page, ci))
            page = try pager.page(page.node.child(ci))
            depth += 1
        }
        return page
    }

    /// Copies the recorded path and `leaf` into the transaction (copy-on-write), relinking
    /// parents. Returns the writable leaf.
    private func touchPath(_ leaf: Page) -> Page {
        var parent: Page? = nil
        for level in 0..<path.count {
            let w = pager.writable(path[level].page)
            if let parent { parent.node.setChild(path[level - 1].child, w.number) } else { root = w.number }
            path[level].page = w
            parent = w
        }
        let w = pager.writable(leaf)
        if let parent { parent.node.setChild(path[path.count - 1].child, w.number) } else { root = w.number }
        return w
    }

    /// Stores `value` under `key`.
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(EngineError) {
        if root == 0 {
            root = pager.allocate(.leaf).number
            height = 1
        }
        var leaf = try descend(key)
        let (i, found) = try search(leaf.node, key)
        leaf = touchPath(leaf)
        if found {
            try freeLeafCellChain(leaf.node, i)
            leaf.node.remove(at: i)
        } else {
            recordCount += 1
        }
        let size = buildLeafCell(key, value)
        let cell = UnsafeRawBufferPointer(start: scratch, count: size)
        if leaf.node.insert(cell, at: i) {
            if found { try rebalance(leaf) }
        } else {
            try insertSplitting(leaf, Array(cell), at: i, level: path.count)
        }
    }

    /// Removes `key`; true if it was present.
    func delete(_ key: UnsafeRawBufferPointer) throws(EngineError) -> Bool {
        guard root != 0 else { return false }
        var leaf = try descend(key)
        let (i, found) = try search(leaf.node, key)
        guard found else { return false }
        leaf = touchPath(leaf)
        try freeLeafCellChain(leaf.node, i)
        leaf.node.remove(at: i)
        recordCount -= 1
        try rebalance(leaf)
        return true
    }

    private func freeLeafCellChain(_ node: Node, _ i: Int) throws(EngineError) {
        let v = node.leafValue(i)
        if v.inline == nil { try pager.freeChain(v.overflow, bytes: v.skip + v.length) }
    }

    /// Builds the leaf cell for `key` and `value` in `scratch`; long ones spill to overflow pages.
    private func buildLeafCell(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Int {
        let k = key.count, v = value.count
        var o = 0
        if 1 + varintSize(k) + varintSize(v) + k + v <= maximumCell {
            scratch.storeBytes(of: 0, as: UInt8.self)
            o = 1
            writeVarint(scratch, &o, k)
            writeVarint(scratch, &o, v)
            if k > 0 { (scratch + o).copyMemory(from: key.baseAddress!, byteCount: k) }
            o += k
            if v > 0 { (scratch + o).copyMemory(from: value.baseAddress!, byteCount: v) }
            return o + v
        }
        let p = min(k, maximumKeyPrefix)
        let chain = pager.writeChain([UnsafeRawBufferPointer(rebasing: key[p...]), value])
        scratch.storeBytes(of: 1, as: UInt8.self)
        o = 1
        writeVarint(scratch, &o, k)
        writeVarint(scratch, &o, v)
        writeVarint(scratch, &o, p)
        if p > 0 { (scratch + o).copyMemory(from: key.baseAddress!, byteCount: p) }
        o += p
        scratch.setU64(o, chain)
        return o + 8
    }

    /// A branch cell for separator `key` pointing at `child`.
    private func makeBranchCell(_ key: [UInt8], child: UInt64) -> [UInt8] {
        var cell = [UInt8](repeating: 0, count: key.count + 40)
        let size = cell.withUnsafeMutableBytes { raw -> Int in
            let b = raw.baseAddress!
            var o = 9
            b.setU64(1, child)
            if 1 + 8 + varintSize(key.count) + key.count <= maximumCell {
                b.storeBytes(of: 0, as: UInt8.self)
                writeVarint(b, &o, key.count)
                key.withUnsafeBytes { if $0.count > 0 { (b + o).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
                return o + key.count
            }
            let p = maximumKeyPrefix
            let chain = key.withUnsafeBytes { pager.writeChain([UnsafeRawBufferPointer(rebasing: $0[p...])]) }
            b.storeBytes(of: 1, as: UInt8.self)
            writeVarint(b, &o, key.count)
            writeVarint(b, &o, p)
            key.withUnsafeBytes { (b + o).copyMemory(from: $0.baseAddress!, byteCount: p) }
            o += p
            b.setU64(o, chain)
            return o + 8
        }
        cell.removeLast(cell.count - size)
        return cell
    }

    // MARK: Splits

    /// Inserts `cell` at `i` into `page` (writable, at depth `level`), splitting it and its
    /// ancestors as needed.
    private func insertSplitting(_ page: Page, _ cell: [UInt8], at i: Int, level: Int) throws(EngineError) {
        var page = page
        var cell = cell
        var i = i
        var level = level
        while true {
            if page.node.insert(cell, at: i) { return }
            // The rightmost page on its level, split by an append: sequential inserts fill pages.
            let rightmost = path[..<level].allSatisfy { $0.child == $0.page.node.count }
            let (separator, right) = try split(page, inserting: cell, at: i, rightmost: rightmost)
            if level == 0 {
                let newRoot = pager.allocate(.branch)
                _ = newRoot.node.insert(separator, at: 0)
                newRoot.node.link = right.number
                root = newRoot.number
                height += 1
                return
            }
            let (parent, ci) = path[level - 1]
            // The slot that pointed at the split page now points at its right half; the
            // separator cell, inserted before it, points at the left half (the old page).
            parent.node.setChild(ci, right.number)
            page = parent
            cell = separator
            i = ci
            level -= 1
        }
    }

    /// Splits `page` with `cell` added at `i` into itself (left) and a new right page.
    /// - Returns: the branch cell to insert into the parent (pointing at the left page) and
    ///   the right page.
    private func split(_ page: Page, inserting cell: [UInt8], at i: Int, rightmost: Bool) throws(EngineError) -> ([UInt8], Page) {
        let node = page.node
        var cells = (0..<node.count).map { node.cellBytes($0) }
        cells.insert(cell, at: i)
        let sizes = cells.map { $0.count + 2 }
        let total = sizes.reduce(0, +)
        let leaf = node.isLeaf
        if leaf {
            // The split point minimizing the larger half.
            var best = 1, bestLarger = Int.max, left = 0
            // Appending past the last key (sequential inserts): keep the left page full.
            if rightmost && i == cells.count - 1 && total - sizes[i] <= capacity {
                best = cells.count - 1
                bestLarger = 0
            }
            for s in 1..<cells.count where bestLarger != 0 {
                left += sizes[s - 1]
                let larger = max(left, total - left)
                if left <= capacity && total - left <= capacity && larger < bestLarger { best = s; bestLarger = larger }
            }
            let right = pager.allocate(.leaf)
            node.rebuild(cells[..<best], link: 0)
            right.node.rebuild(cells[best...], link: 0)
            let lastLeft = try fullKey(Node.key(ofCell: node.cell(node.count - 1), leaf: true))
            let firstRight = try fullKey(Node.key(ofCell: right.node.cell(0), leaf: true))
            var common = 0
            while common < lastLeft.count && common < firstRight.count && lastLeft[common] == firstRight[common] { common += 1 }
            let separator = Array(firstRight[..<min(firstRight.count, common + 1)])
            return (makeBranchCell(separator, child: page.number), right)
        }
        // Branch: cell m moves up; its child becomes the left half's rightmost child.
        var best = 1, bestLarger = Int.max, left = 0
        if rightmost && i == cells.count - 1 && total - sizes[i] - sizes[i - 1] <= capacity {
            best = cells.count - 2  // appending: the new separator's neighbour moves up, the left stays full
            bestLarger = 0
        }
        for m in 1..<(cells.count - 1) where bestLarger != 0 {
            left += sizes[m - 1]
            let rightSize = total - left - sizes[m]
            let larger = max(left, rightSize)
            if left <= capacity && rightSize <= capacity && larger < bestLarger { best = m; bestLarger = larger }
        }
        var up = cells[best]
        let middleChild = up.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 1, as: UInt64.self)) }
        let right = pager.allocate(.branch)
        right.node.rebuild(cells[(best + 1)...], link: node.link)
        node.rebuild(cells[..<best], link: middleChild)
        up.withUnsafeMutableBytes { $0.baseAddress!.setU64(1, page.number) }
        return (up, right)
    }

    // MARK: Merges

    /// After `page` (writable, the end of the recorded path) shrank: merges it with neighbours
    /// while one of a pair is under a quarter full and both fit in one page, then does the same
    /// for each ancestor that lost a cell; finally drops branch roots with a single child.
    private func rebalance(_ page: Page) throws(EngineError) {
        var level = path.count
        var current = page
        let quarter = capacity / 4
        while level > 0 {
            let parent = path[level - 1].page
            var ci = path[level - 1].child
            var changed = false
            while true {
                let pn = parent.node
                let used = current.node.usedBytes
                var merged = false
                if ci > 0 {
                    let left = try pager.page(pn.child(ci - 1))
                    if used < quarter || left.node.usedBytes < quarter, try mergeChildren(parent, ci - 1) {
                        ci -= 1
                        merged = true
                    }
                }
                if !merged && ci < pn.count {
                    let right = try pager.page(pn.child(ci + 1))
                    if used < quarter || right.node.usedBytes < quarter, try mergeChildren(parent, ci) {
                        merged = true
                    }
                }
                if !merged { break }
                changed = true
                current = try pager.page(pn.child(ci))
            }
            if !changed { break }
            current = parent
            level -= 1
        }
        while height > 1 {
            let r = try pager.page(root)
            guard !r.node.isLeaf, r.node.count == 0 else { break }
            root = r.node.link
            pager.free(r)
            height -= 1
        }
    }

    /// Merges children `l` and `l + 1` of `parent` (writable) into the left one if they fit.
    private func mergeChildren(_ parent: Page, _ l: Int) throws(EngineError) -> Bool {
        let pn = parent.node
        var left = try pager.page(pn.child(l))
        let right = try pager.page(pn.child(l + 1))
        let leaf = left.node.isLeaf
        var separator: [UInt8] = []
        var extra = 0
        if !leaf {
            separator = pn.cellBytes(l)
            extra = separator.count + 2
        }
        guard left.node.usedBytes + right.node.usedBytes + extra <= capacity else { return false }
        left = pager.writable(left)
        pn.setChild(l, left.number)
        let ln = left.node, rn = right.node
        if !leaf {
            separator.withUnsafeMutableBytes { $0.baseAddress!.setU64(1, ln.link) }
            _ = ln.insert(separator, at: ln.count)
            ln.link = rn.link
        } else {
            let key = pn.key(l)
            if !key.isComplete { try pager.freeChain(key.overflow, bytes: key.fullCount - key.inlineCount) }
        }
        for i in 0..<rn.count {
            let ok = ln.insert(UnsafeRawBufferPointer(start: rn.cell(i), count: rn.cellSize(i)), at: ln.count)
            precondition(ok, "merge: cells do not fit")
        }
        pager.free(right)
        pn.remove(at: l)
        pn.setChild(l, left.number)
        return true
    }
}
