// Scoped read and write access to a SkipList: several operations in one read section or under one write lock.

import KVCore

extension SkipList {
    /// Lock-free read access, valid only inside `withReadView`'s closure (one read section).
    public struct ReadView: ~Copyable {
        @usableFromInline unowned(unsafe) let list: SkipList

        @inlinable
        init(list: SkipList) { self.list = list }

        /// Number of records.
        @inlinable
        public var count: Int { list.count }

        /// Looks up `key` and hands the stored value, in place, to `body`.
        /// - Returns: `body`'s result, or nil if the key is absent.
        @inlinable
        public func value<R, E: Error>(forKey key: UnsafeRawBufferPointer,
                                       _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R? {
            try list.valueLocked(forKey: key, body)
        }

        /// A cursor on the first record whose key is `>= key` (invalid if there is none).
        @inlinable
        public func seek(_ key: UnsafeRawBufferPointer) -> Cursor {
            Cursor(node: list.findGreaterOrEqual(key, recordingPredecessors: false))
        }

        /// A cursor on the first record (invalid if the list is empty).
        @inlinable
        public func first() -> Cursor { Cursor(node: list.head.next(0)) }
    }

    /// Exclusive write access, valid only inside `withWriter`'s closure (readers go on).
    public struct Writer: ~Copyable {
        @usableFromInline unowned(unsafe) let list: SkipList

        @inlinable
        init(list: SkipList) { self.list = list }

        /// Number of records.
        @inlinable
        public var count: Int { list.count }

        /// Stores `value` under `key`, replacing any previous value.
        /// - Returns: true if the key was new.
        @inlinable
        @discardableResult
        public func insert(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
            list.insertLocked(key, value)
        }

        /// Removes `key`.
        /// - Returns: true if the key was present.
        @inlinable
        @discardableResult
        public func remove(_ key: UnsafeRawBufferPointer) -> Bool { list.removeLocked(key) }

        /// Looks up `key` and hands the stored value, in place, to `body`.
        @inlinable
        public func value<R, E: Error>(forKey key: UnsafeRawBufferPointer,
                                       _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R? {
            try list.valueLocked(forKey: key, body)
        }
    }

    /// A position in the list that walks forward in comparator order.
    ///
    /// Valid only inside the `withReadView` closure that made it: once its read section ends a
    /// writer may free the node it stands on (except on `.insertOnly` lists, where nothing is
    /// freed before the list). Walking on from a node a writer has since unlinked is safe: the
    /// node keeps its next pointers and stays allocated until the section ends.
    public struct Cursor {
        @usableFromInline var node: SkipListNode?

        @inlinable
        init(node: SkipListNode?) { self.node = node }

        /// True while the cursor stands on a record.
        @inlinable
        public var isValid: Bool { node != nil }

        /// The current record's key, in place. Requires `isValid`.
        @inlinable
        public var key: UnsafeRawBufferPointer { node!.key }

        /// The current record's value, in place. Requires `isValid`.
        @inlinable
        public var value: UnsafeRawBufferPointer { node!.record.value }

        /// Moves to the next record (becoming invalid after the last). Requires `isValid`.
        @inlinable
        public mutating func next() { node = node!.next(0) }
    }
}
