// The built-in models: register, CAS register, key-value map, multi-register and mutex.

import History

/// What an `ok` read that returned `nil` tells about a register.
///
/// Knossos's `register` and `cas-register` models accept a read of `nil` in any state: in
/// Jepsen histories a read's invocation carries `nil`, and Knossos takes a `nil` value to
/// mean "not known". kvlab's default is stricter: an `ok` read of `nil` saw an empty
/// register (a missing value is a result, often the stale one). Choose `.any` to compare
/// verdicts with Knossos's.
public enum NilReads: String, Sendable, CaseIterable {
    /// An `ok` read of `nil` means the register held `nil` (kvlab's default).
    case strict
    /// An `ok` read of `nil` constrains nothing, as in Knossos.
    case any

    /// The value a read constrains the state to, or nil if it constrains nothing.
    func constraint(_ read: HistoryOperation) -> Value? {
        guard read.outcome == .ok else { return nil }
        if self == .any && read.output.isNull { return nil }
        return read.output
    }
}

/// A read/write register. `read` returns the last value written (`nil` before any write).
public struct RegisterModel: Model {
    public enum Step: Sendable { case read(Value?), write(Value) }

    public let initialValue: Value
    /// What an `ok` read of `nil` means (default `.strict`: the register held `nil`).
    public let nilReads: NilReads
    public init(initialValue: Value = .null, nilReads: NilReads = .strict) {
        self.initialValue = initialValue
        self.nilReads = nilReads
    }

    public var name: String { "register" }
    public var initialState: Value { initialValue }

    public func prepare(_ operation: HistoryOperation) throws(ModelError) -> Step {
        switch operation.function {
        case "read": return .read(nilReads.constraint(operation))
        case "write": return .write(operation.input)
        default: throw ModelError(model: name, operation: operation, expected: "read or write")
        }
    }

    @inlinable
    public func step(_ state: Value, _ step: Step) -> Transition<Value> {
        switch step {
        case .read(let seen): if let seen, seen != state { .illegal } else { .next(state) }
        case .write(let value): .next(value)
        }
    }

    public func isReadOnly(_ step: Step) -> Bool { if case .read = step { true } else { false } }
}

/// A register with compare-and-set: `cas [old new]` succeeds (ok) only if the value is
/// `old`; a failed cas did not happen. Knossos's `cas-register`.
public struct CASRegisterModel: Model {
    public enum Step: Sendable { case read(Value?), write(Value), cas(Value, Value) }

    public let initialValue: Value
    /// What an `ok` read of `nil` means (default `.strict`: the register held `nil`).
    public let nilReads: NilReads
    public init(initialValue: Value = .null, nilReads: NilReads = .strict) {
        self.initialValue = initialValue
        self.nilReads = nilReads
    }

    public var name: String { "cas-register" }
    public var initialState: Value { initialValue }

    public func prepare(_ operation: HistoryOperation) throws(ModelError) -> Step {
        switch operation.function {
        case "read": return .read(nilReads.constraint(operation))
        case "write": return .write(operation.input)
        case "cas":
            guard let pair = operation.input.elements, pair.count == 2 else {
                throw ModelError(model: name, operation: operation, expected: "a cas value [old new]")
            }
            return .cas(pair[0], pair[1])
        default: throw ModelError(model: name, operation: operation, expected: "read, write or cas")
        }
    }

    @inlinable
    public func step(_ state: Value, _ step: Step) -> Transition<Value> {
        switch step {
        case .read(let seen): if let seen, seen != state { .illegal } else { .next(state) }
        case .write(let value): .next(value)
        case .cas(let old, let new): old == state ? .next(new) : .illegal
        }
    }

    public func isReadOnly(_ step: Step) -> Bool { if case .read = step { true } else { false } }
}

/// A key-value map, partitioned by key: `read` (get), `write` (put), `append` (string
/// concatenation) and `delete`. A missing key reads as `nil`; `""` and `nil` read alike, as
/// in Porcupine's logs where a get of a missing key returns `""`.
public struct KeyValueModel: Model {
    public enum Step: Sendable { case read(Value?), write(Value), append(String), delete }

    public init() {}

    public var name: String { "kv" }
    public var initialState: Value { .null }

    public func prepare(_ operation: HistoryOperation) throws(ModelError) -> Step {
        switch operation.function {
        case "read":
            guard operation.outcome == .ok else { return .read(nil) }
            return .read(operation.output == .string("") ? .null : operation.output)
        case "write": return .write(operation.input == .string("") ? .null : operation.input)
        case "append":
            guard let text = operation.input.text else {
                throw ModelError(model: name, operation: operation, expected: "a string to append")
            }
            return .append(text)
        case "delete": return .delete
        default: throw ModelError(model: name, operation: operation, expected: "read (get), write (put), append or delete")
        }
    }

    @inlinable
    public func step(_ state: Value, _ step: Step) -> Transition<Value> {
        switch step {
        case .read(let seen):
            if let seen, seen != state { return .illegal } else { return .next(state) }
        case .write(let value): return .next(value)
        case .append(let text):
            let combined = (state.text ?? "") + text
            return .next(combined.isEmpty ? .null : .string(combined))
        case .delete: return .next(.null)
        }
    }

    public func isReadOnly(_ step: Step) -> Bool { if case .read = step { true } else { false } }
}

/// Several registers updated by transactions: `txn [[:read :x 1] [:write :y 2]]` reads and
/// writes registers atomically. Registers start at `nil`. Knossos's `multi-register`.
/// Not partitioned: a transaction spans registers.
public struct MultiRegisterModel: Model {
    public enum MicroOperation: Sendable { case read(Value, Value?), write(Value, Value) }
    public typealias Step = [MicroOperation]

    /// Register name → initial value; registers not named start at `nil`.
    public let initialValues: [Value: Value]

    public init(initialValues: [Value: Value] = [:]) {
        self.initialValues = initialValues.filter { !$0.value.isNull }
    }

    public var name: String { "multi-register" }
    /// Register name → value; absent means `nil`.
    public var initialState: [Value: Value] { initialValues }

    public func prepare(_ operation: HistoryOperation) throws(ModelError) -> Step {
        guard operation.function == "txn" else { throw ModelError(model: name, operation: operation, expected: "txn") }
        let value = operation.outcome == .ok ? operation.output : operation.input
        guard let micros = value.elements else {
            throw ModelError(model: name, operation: operation, expected: "a txn value [[:read k v] [:write k v] ...]")
        }
        var steps: Step = []
        for micro in micros {
            guard let parts = micro.elements, parts.count == 3, let f = parts[0].text else {
                throw ModelError(model: name, operation: operation, expected: "micro-operations [f key value]")
            }
            switch f {
            case "read", "r": steps.append(.read(parts[1], operation.outcome == .ok ? parts[2] : nil))
            case "write", "w": steps.append(.write(parts[1], parts[2]))
            default: throw ModelError(model: name, operation: operation, expected: "micro-operations :read or :write")
            }
        }
        return steps
    }

    public func step(_ state: [Value: Value], _ step: Step) -> Transition<[Value: Value]> {
        var next = state
        for micro in step {
            switch micro {
            case .read(let key, let seen):
                if let seen, seen != (next[key] ?? .null) { return .illegal }
            case .write(let key, let value):
                next[key] = value.isNull ? nil : value
            }
        }
        return .next(next)
    }

    public func isReadOnly(_ step: Step) -> Bool {
        step.allSatisfy { if case .read = $0 { true } else { false } }
    }

    public func partition(_ operation: HistoryOperation) -> Value? { nil }
}

/// A lock: `acquire` succeeds only when free, `release` only when held. Knossos's `mutex`.
public struct MutexModel: Model {
    public enum Step: Sendable { case acquire, release }

    public init() {}

    public var name: String { "mutex" }
    /// Whether the lock is held.
    public var initialState: Bool { false }

    public func prepare(_ operation: HistoryOperation) throws(ModelError) -> Step {
        switch operation.function {
        case "acquire": return .acquire
        case "release": return .release
        default: throw ModelError(model: name, operation: operation, expected: "acquire or release")
        }
    }

    public func step(_ state: Bool, _ step: Step) -> Transition<Bool> {
        switch step {
        case .acquire: state ? .illegal : .next(true)
        case .release: state ? .next(false) : .illegal
        }
    }

    public func partition(_ operation: HistoryOperation) -> Value? { nil }
    public func describe(_ state: Bool) -> String { state ? "held" : "free" }
}
