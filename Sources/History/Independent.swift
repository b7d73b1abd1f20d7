// Jepsen `independent` histories: values `[k v]` (cas `[k [old new]]`) without a `:key`, split into keyed operations.

/// Jepsen's `jepsen.independent` wraps every operation's value in a `[key value]` tuple
/// instead of giving it a `:key` field: `{:f :write, :value [3 5]}` writes 5 to register 3,
/// `{:f :read, :value [3 nil]}` invokes a read of register 3, `{:f :cas, :value [3 [1 2]]}`
/// compares-and-sets it. Checked as one register, such a history is nonsense (every write
/// "writes" a pair, every read of another key looks stale); checked per key, it is the
/// workload the test ran.
///
/// `detect` tells whether a history has that shape; `split` rewrites each operation to carry
/// the tuple's key as its `key` and the tuple's value as its input and output, so that a
/// model partitioned by key checks each key on its own.
public enum JepsenIndependent {
    /// How much of a history looks like a Jepsen `independent` one.
    public struct Detection: Sendable, Equatable {
        /// Operations with no `key` whose input (and output, when it completed) is a
        /// two-element tuple; tuples of one operation name the same key.
        public var tupleOperations: Int
        /// Operations that do not: they carry a `key`, or a value of another shape.
        public var otherOperations: Int
        /// The first operation that does not fit, for messages (nil if all fit).
        public var firstMismatch: HistoryOperation?
        /// The distinct keys the tuples name.
        public var keys: Int

        /// Every operation is a keyless tuple (and there is at least one): the history is
        /// a Jepsen `independent` one.
        public var isIndependent: Bool { tupleOperations > 0 && otherOperations == 0 }
        /// Most operations are tuples but not all: probably an `independent` history with a
        /// malformed operation, or a register whose values happen to be pairs.
        public var isPartlyIndependent: Bool { tupleOperations > 0 && otherOperations > 0 && tupleOperations >= otherOperations }

        /// A warning for a history checked as one object although it looks like a Jepsen
        /// `independent` one (every operation, or most, a `[key value]` tuple): such a check
        /// compares tuples of different keys and reports false violations. Nil when the
        /// history does not look independent, or when it is split (`split: true`).
        public func warning(split: Bool) -> String? {
            if split || !(isIndependent || isPartlyIndependent) { return nil }
            var text = "\(tupleOperations) of \(tupleOperations + otherOperations) operations have Jepsen independent values [key value] "
                + "(\(keys) key\(keys == 1 ? "" : "s")) and no :key"
            if let firstMismatch { text += "; not \(firstMismatch)" }
            text += "; checking the history as ONE object compares values of different keys and reports false violations"
            text += isIndependent ? " (split it per key: --independent on or auto)" : " (fix the operations that are not tuples, then --independent on)"
            return text
        }
    }

    /// Looks at every operation (nothing is rewritten).
    public static func detect(_ operations: [HistoryOperation]) -> Detection {
        var detection = Detection(tupleOperations: 0, otherOperations: 0, firstMismatch: nil, keys: 0)
        var keys = Set<Value>()
        for operation in operations {
            if let key = tupleKey(operation) {
                detection.tupleOperations += 1
                keys.insert(key)
            } else {
                detection.otherOperations += 1
                if detection.firstMismatch == nil { detection.firstMismatch = operation }
            }
        }
        detection.keys = keys.count
        return detection
    }

    /// The key of an operation of independent shape, nil if it has another shape.
    static func tupleKey(_ operation: HistoryOperation) -> Value? {
        guard operation.key == nil, let input = operation.input.elements, input.count == 2 else { return nil }
        // An independent cas is [k [old new]]; a plain cas-register's [old new] is not a tuple
        // (a history of cas operations only would otherwise be split by its old values).
        if operation.function == "cas", input[1].elements?.count != 2 { return nil }
        if operation.outcome == .ok, operation.output != operation.input {
            // A completion carries the tuple too, with the read value filled in.
            guard let output = operation.output.elements, output.count == 2, output[0] == input[0] else { return nil }
        }
        return input[0]
    }

    /// The operations with each tuple's key moved into `key`, and its value into `input` and
    /// `output`. Ids, processes, positions and times are kept, so a result still refers to
    /// the original history's operations.
    /// - Throws: `HistoryError` naming the first operation that is not a `[key value]` tuple
    ///   (or whose completion names another key than its invocation).
    public static func split(_ operations: [HistoryOperation]) throws(HistoryError) -> [HistoryOperation] {
        var result: [HistoryOperation] = []
        result.reserveCapacity(operations.count)
        for operation in operations {
            guard let key = tupleKey(operation), let input = operation.input.elements else {
                throw HistoryError(line: operation.invokeLine ?? operation.invokePosition + 1, column: 1,
                                   expected: "a Jepsen independent operation: a [key value] tuple and no :key",
                                   found: operation.description)
            }
            var keyed = operation
            keyed.key = key
            keyed.input = input[1]
            if operation.outcome == .ok, let output = operation.output.elements, output.count == 2 {
                keyed.output = output[1]
            } else {
                keyed.output = input[1]
            }
            result.append(keyed)
        }
        return result
    }
}
