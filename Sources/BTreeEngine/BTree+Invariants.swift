// The B+tree's invariants, checked page by page: order, bounds, fill, and page accounting.

import KVCore

extension BTree {
    /// Walks the whole tree and the free list.
    /// - Throws: `EngineError.corruption` naming the page and the violated property:
    ///   keys out of order within a page or across pages (a key outside its separators' range),
    ///   leaves at different depths, a page over capacity or with inconsistent slots, two
    ///   adjacent siblings both under a quarter full, a wrong record count, a free page that is
    ///   also reachable, a page that is neither reachable nor free (leaked), or a tree digest
    ///   that differs from the one commits keep (see `MetaPage`).
    func checkInvariants() throws(EngineError) {
        var reachable = Set<UInt64>()
        var records: UInt64 = 0
        let pageSize = pager.pageSize
        let file = pager.path

        func fail(_ page: UInt64, _ detail: String) -> EngineError {
            .corruption(file: file, offset: Int64(page) * Int64(pageSize), detail: "page \(page): \(detail)")
        }
        func claim(_ page: UInt64) throws(EngineError) {
            guard reachable.insert(page).inserted else { throw fail(page, "reachable twice") }
        }
        func describe(_ key: [UInt8]) -> String { key.debugText }

        func visit(_ number: UInt64, depth: Int, lower: [UInt8]?, upper: [UInt8]?, isOnlyChild: Bool) throws(EngineError) {
            try claim(number)
            let page = try pager.page(number)
            let node = page.node
            let expected: PageType = depth == height - 1 ? .leaf : .branch
            guard node.type == expected.rawValue else { throw fail(number, "type \(node.type) at depth \(depth), expected \(expected)") }
            if let stale = page.prefixIndex.staleness(node) { throw fail(number, "prefix index out of date: \(stale)") }
            // Slots and space accounting.
            guard node.contentStart >= PageLayout.headerSize + 2 * node.count, node.contentStart <= pageSize else {
                throw fail(number, "cell content start \(node.contentStart) overlaps \(node.count) slots")
            }
            var cellBytes = 0
            for i in 0..<node.count {
                let s = node.slot(i)
                let size = node.cellSize(i)
                guard s >= node.contentStart, s + size <= pageSize else { throw fail(number, "cell \(i) at \(s) (\(size) bytes) outside the content area") }
                cellBytes += size
            }
            guard cellBytes + 2 * node.count == node.usedBytes else {
                throw fail(number, "cells use \(cellBytes + 2 * node.count) bytes, header accounts for \(node.usedBytes)")
            }
            guard node.usedBytes <= capacity else { throw fail(number, "\(node.usedBytes) bytes used, capacity \(capacity)") }
            if depth > 0 && node.isLeaf && node.count == 0 && !isOnlyChild { throw fail(number, "empty non-root leaf") }
            // Keys: strictly increasing, within [lower, upper).
            var keys: [[UInt8]] = []
            for i in 0..<node.count {
                let k = node.key(i)
                if !k.isComplete {
                    let bytes = node.isLeaf ? k.fullCount - k.inlineCount + node.leafValue(i).length : k.fullCount - k.inlineCount
                    for p in try pager.chainPages(k.overflow, bytes: bytes) { try claim(p) }
                } else if node.isLeaf, node.leafValue(i).inline == nil {
                    let v = node.leafValue(i)
                    for p in try pager.chainPages(v.overflow, bytes: v.length) { try claim(p) }
                }
                let key = try fullKey(k)
                if let previous = keys.last, !(previous.lexicographicallyPrecedes(key)) {
                    throw fail(number, "key \(i) \(describe(key)) not above key \(i - 1) \(describe(previous))")
                }
                if let lower, key.lexicographicallyPrecedes(lower) {
                    throw fail(number, "key \(i) \(describe(key)) below its lower separator \(describe(lower))")
                }
                if let upper, !key.lexicographicallyPrecedes(upper) {
                    throw fail(number, "key \(i) \(describe(key)) not below its upper separator \(describe(upper))")
                }
                keys.append(key)
            }
            if node.isLeaf {
                records += UInt64(node.count)
                return
            }
            let quarter = capacity / 4
            var previousUsed: Int? = nil
            for i in 0...node.count {
                let child = node.child(i)
                guard child >= 2, child < pager.pageCount else { throw fail(number, "child \(i) is page \(child), outside the file") }
                try visit(child, depth: depth + 1, lower: i == 0 ? lower : keys[i - 1], upper: i == node.count ? upper : keys[i],
                          isOnlyChild: node.count == 0)
                let used = try pager.page(child).node.usedBytes
                if let previousUsed, previousUsed < quarter, used < quarter {
                    throw fail(number, "children \(i - 1) and \(i) are both under a quarter full (\(previousUsed) and \(used) of \(capacity) bytes)")
                }
                previousUsed = used
            }
        }

        if root != 0 {
            guard height >= 1 else { throw fail(root, "root of a tree of height \(height)") }
            try visit(root, depth: 0, lower: nil, upper: nil, isOnlyChild: true)
        } else if height != 0 {
            throw .corruption(file: file, offset: 0, detail: "empty tree of height \(height)")
        }
        guard records == recordCount else {
            throw .corruption(file: file, offset: 0, detail: "tree holds \(records) records, the count says \(recordCount)")
        }
        // The digest kept up to date by commits and frees equals the tree's (once its pages are
        // written: an open `buffered` transaction's dirty pages are not in it yet).
        if pager.dirtyCount == 0 {
            var digest: UInt64 = 0
            for p in reachable { digest &+= MetaPage.pageDigest(p, try pager.page(p).bytes.u32(0)) }
            guard digest == pager.treeDigest, UInt64(reachable.count) == pager.treePages else {
                throw .corruption(file: file, offset: 0, detail: "tree digest \(digest) over \(reachable.count) pages, the pager keeps \(pager.treeDigest) over \(pager.treePages)")
            }
        }
        let (free, listPages) = pager.allFreePages
        var seen = Set<UInt64>()
        for p in free + listPages {
            guard p >= 2, p < pager.pageCount else { throw fail(p, "free page outside the file's \(pager.pageCount) pages") }
            guard !reachable.contains(p) else { throw fail(p, "both free and reachable from the root") }
            guard seen.insert(p).inserted else { throw fail(p, "listed twice as free") }
        }
        let accounted = reachable.count + seen.count + 2
        guard UInt64(accounted) == pager.pageCount else {
            throw .corruption(file: file, offset: 0,
                              detail: "\(pager.pageCount) pages in the file, \(reachable.count) reachable + \(seen.count) free + 2 meta: \(Int(pager.pageCount) - accounted) leaked")
        }
    }
}
