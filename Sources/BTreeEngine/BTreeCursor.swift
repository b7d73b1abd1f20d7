// An ordered cursor over one B+tree snapshot: seek once, then walk the leaves without re-descending.

import KVCore

/// A position in the tree at `root` of `height` (a pinned snapshot: no writer changes its pages).
///
/// The cursor keeps the path from the root to its leaf: each branch page with the index of the
/// child it went down. `next()` moves within the leaf; at its end it climbs to the nearest
/// ancestor with a child to the right and goes down that child's leftmost edge, so a full pass
/// reads every branch page once and never descends from the root again (LMDB's cursor stack).
///
/// The path holds counted references to its pages, so pages evicted from the cache meanwhile
/// stay valid; pages are fetched inside a short reader epoch of the cache (`PageCache`) each,
/// so a long scan never holds reclamation back. Records are read in place: a visit gets the
/// key and value bytes inside the page (only overflow records are assembled into a buffer).
struct BTreeCursor {
    let tree: BTree
    let root: UInt64
    let height: Int
    /// Branch pages from the root down to the leaf's parent, and the child taken in each.
    private var path: [(page: Page, child: Int)] = []
    /// The current leaf (nil: before `seek`, or past the end).
    private var leaf: Page?
    private var node: Node?
    /// Index of the current record in `leaf`.
    private(set) var index = 0

    init(tree: BTree, root: UInt64, height: Int) {
        self.tree = tree
        self.root = root
        self.height = height
        path.reserveCapacity(max(height, 1))
    }

    /// Whether the cursor is on a record.
    var isValid: Bool { leaf != nil && index < node.unsafelyUnwrapped.count }

    /// Moves to the first record with key >= `key` (invalid if none).
    mutating func seek(_ key: UnsafeRawBufferPointer) throws(EngineError) {
        path.removeAll(keepingCapacity: true)
        leaf = nil
        guard root != 0 else { return }
        let cache = tree.pager.cache
        let parity = cache.enterReader()
        defer { cache.exitReader(parity) }
        var page = try tree.pager.readerPage(root)
        var depth = 0
        while true {
            let n = try tree.checkedNode(page.node, number: page.number, depth: depth, height: height)
            if n.isLeaf { break }
            let (i, found) = try tree.readerSearch(n, key)
            let ci = found ? i + 1 : i
            path.append((page, ci))
            page = try tree.pager.readerPage(n.child(ci))
            depth += 1
        }
        leaf = page
        let n = page.node
        node = n
        index = try tree.readerSearch(n, key).index
        if index == n.count { try nextLeaf() }
    }

    /// Moves to the next record; false (and invalid) past the last one.
    @discardableResult
    mutating func next() throws(EngineError) -> Bool {
        guard leaf != nil else { return false }
        index += 1
        if index < node.unsafelyUnwrapped.count { return true }
        try nextLeaf()
        return leaf != nil
    }

    /// Moves to the first record of the next non-empty leaf, or past the end.
    private mutating func nextLeaf() throws(EngineError) {
        let cache = tree.pager.cache
        let parity = cache.enterReader()
        defer { cache.exitReader(parity) }
        while true {
            // Up to the first ancestor with a child to the right...
            var found = false
            while let top = path.last {
                if top.child < top.page.node.count {
                    path[path.count - 1].child += 1
                    found = true
                    break
                }
                path.removeLast()
            }
            guard found else {
                leaf = nil
                index = 0
                return
            }
            // ...then down its leftmost edge.
            let top = path[path.count - 1]
            var page = try tree.pager.readerPage(top.page.node.child(top.child))
            while true {
                let n = try tree.checkedNode(page.node, number: page.number, depth: path.count, height: height)
                if n.isLeaf { break }
                path.append((page, 0))
                page = try tree.pager.readerPage(n.child(0))
            }
            leaf = page
            node = page.node
            index = 0
            if page.node.count > 0 { return }  // only an empty root leaf can be empty; skip it anyway
        }
    }

    /// Calls `body` with the current record's key and value, read in place.
    @inline(__always)
    func withRecord<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> R) throws(EngineError) -> R {
        let node = self.node.unsafelyUnwrapped
        let c = node.cell(index)
        // Fast path: an inline cell with one-byte lengths (short records), parsed once.
        if c.load(as: UInt8.self) == 0 {
            let k = Int(c.load(fromByteOffset: 1, as: UInt8.self)), v = Int(c.load(fromByteOffset: 2, as: UInt8.self))
            if k < 0x80 && v < 0x80 {
                return body(UnsafeRawBufferPointer(start: c + 3, count: k), UnsafeRawBufferPointer(start: c + 3 + k, count: v))
            }
        }
        let key = node.key(index)
        let n = node, i = index
        if key.isComplete {
            return try tree.withValue(n, i) { v in body(UnsafeRawBufferPointer(start: key.bytes, count: key.inlineCount), v) }
        }
        let full = try tree.fullKey(key)
        return try full.withBytes { (k) throws(EngineError) in try tree.withValue(n, i) { v in body(k, v) } }
    }
}
