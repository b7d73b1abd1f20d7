// What a sequential specification is: a state, a step function, and a way to split the history.

import History

/// A sequential specification of an object: what a single-threaded run of it may do.
///
/// The checker asks, for a history, whether some order of its operations — consistent with
/// real time — is a run of the model. Implement this protocol to check your own object.
/// Operations are first `prepare`d once (parsed into the model's own compact form, which is
/// also where malformed operations are rejected), then `step` is called many times.
public protocol Model: Sendable {
    /// The object's state. Equal states must behave the same: the checker caches
    /// (linearized operations, state) pairs and never explores one twice.
    associatedtype State: Hashable & Sendable
    /// An operation as the model understands it.
    associatedtype Step: Sendable

    /// A short name for reports (`cas-register`).
    var name: String { get }
    /// The state before any operation.
    var initialState: State { get }
    /// Parses `operation` (its function, key, input, output and outcome).
    ///
    /// For an operation with an `unknown` outcome the result is not known: a read then
    /// constrains nothing, and a write or cas, if it takes effect at all, must be legal.
    /// - Throws: `ModelError` if the model has no such operation or its value is malformed.
    func prepare(_ operation: HistoryOperation) throws(ModelError) -> Step
    /// Applies `step` to `state`: the next state, several possible ones, or `.illegal` if
    /// the operation could not have returned what it did in this state.
    func step(_ state: State, _ step: Step) -> Transition<State>
    /// Which independent object the operation addresses (P-compositionality: each part is
    /// checked on its own). Operations with equal keys form one part; nil puts every
    /// operation in one part. Default: the operation's key.
    func partition(_ operation: HistoryOperation) -> Value?
    /// The state, for reports. Default: its description.
    func describe(_ state: State) -> String
    /// Whether `step` never changes the state, in any state where it is legal (a read).
    /// The search linearizes such an operation as soon as it fits, without trying other
    /// orders (partial-order reduction), so a true answer must hold for every state.
    /// Default: false (always safe; only slower).
    func isReadOnly(_ step: Step) -> Bool
    /// Orders between operations that every linearization of `steps` (from `initialState`)
    /// must respect, inferred from the values the operations observed (Elle's inference:
    /// appends of unique values reveal their order in every later read). Each pair
    /// `(before, after)` indexes `steps`. The search never linearizes `after` before
    /// `before`, so an inferred order must hold in *every* linearization, or verdicts change.
    /// A pair `(i, i)` says operation `i` can never take effect (a read of a value no
    /// operation can produce): if its outcome is known, no linearization exists.
    /// Default: none.
    func inferredOrder(_ steps: [Step], initialState: State) -> [(before: Int, after: Int)]
}

extension Model {
    public func partition(_ operation: HistoryOperation) -> Value? { operation.key }
    public func describe(_ state: State) -> String { String(describing: state) }
    public func isReadOnly(_ step: Step) -> Bool { false }
    public func inferredOrder(_ steps: [Step], initialState: State) -> [(before: Int, after: Int)] { [] }
}

/// The outcome of applying one operation to a state.
public enum Transition<State: Hashable & Sendable>: Sendable {
    /// The operation cannot have happened, with its result, in this state.
    case illegal
    /// The operation leads to this state.
    case next(State)
    /// A nondeterministic model: the operation may lead to any of these states.
    case choices([State])
}

/// An operation the model cannot interpret.
public struct ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    public var model: String
    public var operation: String
    public var expected: String

    public init(model: String, operation: HistoryOperation, expected: String) {
        self.model = model
        self.operation = operation.description
        self.expected = expected
    }

    public var description: String { "model \(model): operation '\(operation)': expected \(expected)" }
}
