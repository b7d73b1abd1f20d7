// Checking a group-commit meta at open: walk its tree, compare with what the meta recorded, and
// find the free pages.

import KVCore

extension BTree {
    /// What a walk of the whole tree found.
    struct Census {
        /// Per page number below the page count: 1 if the tree reaches it.
        var reachable: [UInt8]
        var digest: UInt64 = 0
        var pages: UInt64 = 0
        var records: UInt64 = 0
    }

    /// Reads every page the tree reaches (branches, leaves, overflow chains), each verified by
    /// its checksum, number and type, and sums their digest.
    /// - Throws: `EngineError.corruption` for an unreadable or damaged page, a page reached
    ///   twice (a cycle), a child outside the file: after a machine crash, the signs of a meta
    ///   that reached the disk before its pages.
    func census() throws(EngineError) -> Census {
        var census = Census(reachable: [UInt8](repeating: 0, count: Int(pager.pageCount)))
        let file = pager.path
        let pageSize = pager.pageSize
        func claim(_ number: UInt64) throws(EngineError) -> Page {
            guard number >= 2, number < pager.pageCount else {
                throw .corruption(file: file, offset: 0, detail: "page \(number) is outside the file's \(pager.pageCount) pages")
            }
            guard census.reachable[Int(number)] == 0 else {
                throw .corruption(file: file, offset: Int64(number) * Int64(pageSize), detail: "page \(number): reachable twice")
            }
            census.reachable[Int(number)] = 1
            let page = try pager.page(number)
            census.digest &+= MetaPage.pageDigest(number, page.bytes.u32(0))
            census.pages += 1
            return page
        }
        func chain(_ first: UInt64, bytes: Int) throws(EngineError) {
            var number = first
            var left = bytes
            while left > 0 {
                let p = try claim(number)
                guard p.node.type == PageType.overflow.rawValue else {
                    throw .corruption(file: file, offset: Int64(number) * Int64(pageSize), detail: "page \(number): type \(p.node.type), expected overflow")
                }
                left -= p.bytes.u16(6)
                number = p.node.link
                if left > 0 && number == 0 {
                    throw .corruption(file: file, offset: Int64(first) * Int64(pageSize), detail: "overflow chain from page \(first) ends \(left) bytes early")
                }
            }
        }
        func visit(_ number: UInt64, depth: Int) throws(EngineError) {
            let page = try claim(number)
            let node = page.node
            let expected: PageType = depth == height - 1 ? .leaf : .branch
            guard node.type == expected.rawValue else {
                throw .corruption(file: file, offset: Int64(number) * Int64(pageSize), detail: "page \(number): type \(node.type) at depth \(depth), expected \(expected)")
            }
            guard node.contentStart >= PageLayout.headerSize + 2 * node.count, node.contentStart <= pageSize else {
                throw .corruption(file: file, offset: Int64(number) * Int64(pageSize), detail: "page \(number): slots overlap cells")
            }
            for i in 0..<node.count {
                let k = node.key(i)
                if !k.isComplete {
                    let bytes = node.isLeaf ? k.fullCount - k.inlineCount + node.leafValue(i).length : k.fullCount - k.inlineCount
                    try chain(k.overflow, bytes: bytes)
                } else if node.isLeaf, node.leafValue(i).inline == nil {
                    let v = node.leafValue(i)
                    try chain(v.overflow, bytes: v.length)
                }
            }
            if node.isLeaf {
                census.records += UInt64(node.count)
                return
            }
            for i in 0...node.count { try visit(node.child(i), depth: depth + 1) }
        }
        if root != 0 {
            guard height >= 1, height <= 64 else {
                throw .corruption(file: file, offset: 0, detail: "root page \(root) of a tree of height \(height)")
            }
            try visit(root, depth: 0)
        } else if height != 0 {
            throw .corruption(file: file, offset: 0, detail: "empty tree of height \(height)")
        }
        return census
    }
}
