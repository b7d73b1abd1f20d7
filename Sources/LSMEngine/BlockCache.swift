// An LRU cache of decoded table blocks, bounded by bytes.

import KVCore

/// Data blocks keyed by (table file number, block offset), evicted least recently used first
/// once their bytes exceed `capacity`. One lock; a hit moves the block to the front.
final class BlockCache: @unchecked Sendable {
    private struct Key: Hashable { var file: UInt64; var offset: UInt64 }
    private final class Node {
        let key: Key
        let block: Block
        var previous: Node?
        var next: Node?
        init(key: Key, block: Block) { self.key = key; self.block = block }
    }

    let capacity: Int
    private let lock = Lock()
    private var nodes: [Key: Node] = [:]
    private var head: Node?   // most recent
    private var tail: Node?   // least recent
    private(set) var usage = 0
    private(set) var hits = 0
    private(set) var misses = 0

    init(capacity: Int) { self.capacity = capacity }

    func lookup(file: UInt64, offset: UInt64) -> Block? {
        lock.withLock {
            guard let node = nodes[Key(file: file, offset: offset)] else { misses += 1; return nil }
            hits += 1
            unlink(node)
            pushFront(node)
            return node.block
        }
    }

    func insert(file: UInt64, offset: UInt64, block: Block) {
        guard capacity > 0 else { return }
        lock.withLock {
            let key = Key(file: file, offset: offset)
            if let old = nodes[key] { unlink(old); usage -= old.block.size }
            let node = Node(key: key, block: block)
            nodes[key] = node
            pushFront(node)
            usage += block.size
            while usage > capacity, let victim = tail, victim !== node {
                unlink(victim)
                nodes[victim.key] = nil
                usage -= victim.block.size
            }
        }
    }

    /// Drops every block of `file` (its table was deleted).
    func evict(file: UInt64) {
        lock.withLock {
            var node = head
            while let current = node {
                node = current.next
                if current.key.file == file {
                    unlink(current)
                    nodes[current.key] = nil
                    usage -= current.block.size
                }
            }
        }
    }

    private func unlink(_ node: Node) {
        if let p = node.previous { p.next = node.next } else { head = node.next }
        if let n = node.next { n.previous = node.previous } else { tail = node.previous }
        node.previous = nil
        node.next = nil
    }

    private func pushFront(_ node: Node) {
        node.next = head
        head?.previous = node
        head = node
        if tail == nil { tail = node }
    }
}
