// A history as events in real-time order, and the operations (invocation + outcome) they form.

/// An operation: one invocation paired with its completion.
///
/// Operations that failed (`fail`) certainly did not take effect and are not operations of the
/// history at all. Operations that ended `info`, or never ended, have an `unknown` outcome: they
/// may take effect at any point after their invocation, or never.
public struct HistoryOperation: Hashable, Sendable, CustomStringConvertible {
    /// How the operation ended.
    public enum Outcome: String, Hashable, Sendable {
        /// It took effect, with `output` as its result.
        case ok
        /// It may have taken effect (with an unknown result) or not.
        case unknown
    }

    /// The operation's index in `History.operations`.
    public var id: Int
    public var process: Int
    public var function: String
    public var key: Value?
    /// The invocation's value (what was written; `[old new]` for cas; a txn's micro-operations).
    public var input: Value
    /// The completion's value (what was read); the input again for an unknown outcome.
    public var output: Value
    public var outcome: Outcome
    /// The invocation's position in the history's events.
    public var invokePosition: Int
    /// The completion's position, or nil if it never (knowably) completed.
    public var returnPosition: Int?
    /// The invocation's and completion's clock times, if the format records them.
    public var invokeTime: Int64?
    public var returnTime: Int64?
    /// The input line of the invocation (1-based), if the reader recorded it; for messages.
    public var invokeLine: Int?

    public init(id: Int, process: Int, function: String, key: Value? = nil, input: Value = .null, output: Value = .null,
                outcome: Outcome = .ok, invokePosition: Int, returnPosition: Int?,
                invokeTime: Int64? = nil, returnTime: Int64? = nil, invokeLine: Int? = nil) {
        self.id = id
        self.process = process
        self.function = function
        self.key = key
        self.input = input
        self.output = output
        self.outcome = outcome
        self.invokePosition = invokePosition
        self.returnPosition = returnPosition
        self.invokeTime = invokeTime
        self.returnTime = returnTime
        self.invokeLine = invokeLine
    }

    /// E.g. `p3 write x 5`, `p1 read x -> 5`, `p2 cas [1 2] ?` (`?` = unknown outcome).
    public var description: String {
        var text = "p\(process) \(function)"
        if let key { text += " \(key.text ?? key.description)" }
        let isRead = function == "read"
        if !isRead || outcome == .unknown, !(input.isNull && isRead) { text += " \(input)" }
        if outcome == .unknown {
            text += " ?"
        } else if isRead || function == "txn" {
            text += " -> \(output)"
        }
        return text
    }
}

/// A concurrent history: events in the order they happened.
public struct History: Sendable {
    public var events: [Event]

    public init(events: [Event] = []) { self.events = events }

    /// Pairs each invocation with its process's next completion.
    ///
    /// `fail` operations are dropped (they did not happen); `info` completions and invocations
    /// that never complete give operations with an `unknown` outcome. A process that invokes
    /// again while an operation is pending is taken to have abandoned the pending one (its
    /// outcome becomes unknown). Events of non-client processes (Jepsen's nemesis) are not
    /// part of a history here: readers drop them.
    /// - Throws: `HistoryError` for a completion with no pending invocation, or one whose
    ///   function differs from its invocation's.
    public func operations() throws(HistoryError) -> [HistoryOperation] {
        var pending: [Int: Int] = [:]           // process -> index into `building`
        var building: [HistoryOperation?] = []
        building.reserveCapacity(events.count / 2 + 1)
        for (position, event) in events.enumerated() {
            switch event.kind {
            case .invoke:
                if let open = pending[event.process] { building[open]?.outcome = .unknown }
                pending[event.process] = building.count
                building.append(HistoryOperation(id: 0, process: event.process, function: event.function, key: event.key,
                                          input: event.value, output: event.value, outcome: .unknown,
                                          invokePosition: position, returnPosition: nil, invokeTime: event.time,
                                          invokeLine: event.line))
            case .ok, .fail, .info:
                guard let open = pending.removeValue(forKey: event.process), var operation = building[open] else {
                    throw HistoryError(line: event.line ?? position + 1, column: 1,
                                       expected: "an invocation by process \(event.process) before its :\(event.kind.rawValue)",
                                       found: "no pending operation")
                }
                guard operation.function == event.function else {
                    throw HistoryError(line: event.line ?? position + 1, column: 1,
                                       expected: "a completion of process \(event.process)'s pending :\(operation.function)",
                                       found: ":\(event.function)")
                }
                switch event.kind {
                case .ok:
                    operation.outcome = .ok
                    operation.output = event.value
                    operation.returnPosition = position
                    operation.returnTime = event.time
                    if operation.key == nil { operation.key = event.key }
                    building[open] = operation
                case .fail:
                    building[open] = nil
                default:
                    break // info: stays unknown, open to the end of the history
                }
            }
        }
        var result: [HistoryOperation] = []
        result.reserveCapacity(building.count)
        for case var operation? in building {
            operation.id = result.count
            result.append(operation)
        }
        return result
    }
}
