// Jepsen's set workload checker: adds of unique elements, a final read; lost, unexpected and recovered elements.

import History

/// The verdict of Jepsen's `set` checker on a history (`jepsen.checker/set`).
///
/// The workload adds unique elements (`{:f :add, :value 3}`) and, at the end, reads the whole
/// set (`{:f :read, :value #{1 2 3}}`). Only the *last* `ok` read counts (the final read);
/// other reads are ignored, as in Jepsen. With *attempted* the elements of every `add`
/// invocation and *acknowledged* those of `ok` adds:
/// - **lost**: acknowledged, but missing from the final read (an acknowledged write vanished);
/// - **unexpected**: in the final read, but never attempted (the store made it up);
/// - **recovered**: in the final read, attempted but not acknowledged (its add failed or was
///   indeterminate, and took effect anyway — legal for `info`, suspicious for `fail`);
/// - **ok**: acknowledged and read.
///
/// The history is valid when nothing is lost and nothing is unexpected; without an `ok` read
/// the validity is unknown ("the set was never read"), as in Jepsen.
public struct SetCheckResult: Sendable {
    /// Valid, invalid, or unknown (no final read).
    public enum Validity: String, Sendable {
        case valid, invalid, unknown
    }

    public var validity: Validity
    /// Elements of `add` invocations (unique elements; an element added twice counts once).
    public var attempted: [Value]
    /// Elements of `ok` adds.
    public var acknowledged: [Value]
    /// The final read's elements (nil if the set was never read).
    public var finalRead: [Value]?
    /// The event position of the final read's completion.
    public var finalReadPosition: Int?
    /// Acknowledged and read.
    public var ok: [Value]
    /// Acknowledged, missing from the final read.
    public var lost: [Value]
    /// Read, never attempted.
    public var unexpected: [Value]
    /// Read, attempted, not acknowledged.
    public var recovered: [Value]
    /// Elements the final read returned more than once (a set has none; Jepsen's `set-full`
    /// reports them as duplicated).
    public var duplicated: [Value]
    /// Elements added by more than one `add` invocation: the workload's adds were meant to be
    /// unique, and a repeated element weakens every category above.
    public var addedMoreThanOnce: [Value]

    /// A readable report: the verdict, the counts, and up to `maximumListed` elements of each
    /// non-empty category.
    public func textReport(maximumListed: Int = 20) -> String {
        var out = "set: \(validity.rawValue)"
        if finalRead == nil {
            out += " — the set was never read (no ok :read)\n"
        } else {
            out += " — \(attempted.count) attempted adds, \(acknowledged.count) acknowledged; final read "
                + "(event \(finalReadPosition ?? -1)) has \(finalRead?.count ?? 0) elements\n"
        }
        func list(_ name: String, _ values: [Value], _ meaning: String) {
            out += "  \(name): \(values.count)"
            if values.isEmpty { out += "\n"; return }
            let shown = values.prefix(maximumListed).map(\.description).joined(separator: " ")
            out += " (\(meaning)): \(shown)\(values.count > maximumListed ? " ... (\(values.count - maximumListed) more)" : "")\n"
        }
        list("ok", ok, "acknowledged and read")
        list("lost", lost, "acknowledged, missing from the final read")
        list("unexpected", unexpected, "read, never added")
        list("recovered", recovered, "add failed or indeterminate, yet read")
        if !duplicated.isEmpty { list("duplicated", duplicated, "read more than once") }
        if !addedMoreThanOnce.isEmpty { list("added more than once", addedMoreThanOnce, "adds were meant to be unique") }
        return out
    }

    /// The result as one JSON document, in Jepsen's vocabulary (`valid`, `lost`,
    /// `lost-count`, ...).
    public func jsonReport() -> String {
        func values(_ list: [Value]) -> String {
            var out = "["
            for (i, v) in list.enumerated() {
                if i > 0 { out += "," }
                JSONLinesFormat.appendJSON(v, to: &out)
            }
            return out + "]"
        }
        var fields = ["\"model\":\"set\"", "\"valid\":\"\(validity.rawValue)\"",
                      "\"attempt-count\":\(attempted.count)", "\"acknowledged-count\":\(acknowledged.count)"]
        fields.append("\"read-count\":" + (finalRead.map { String($0.count) } ?? "null"))
        for (name, list) in [("ok", ok), ("lost", lost), ("unexpected", unexpected), ("recovered", recovered),
                             ("duplicated", duplicated), ("added-more-than-once", addedMoreThanOnce)] {
            fields.append("\"\(name)\":\(values(list))")
            fields.append("\"\(name)-count\":\(list.count)")
        }
        if finalRead == nil { fields.append("\"error\":\"Set was never read\"") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

/// Jepsen's set checker (see `SetCheckResult`).
public enum SetChecker {
    /// Checks a set workload's history: `add` operations (value: the element) and `read`
    /// operations (value: a set or list of elements, on the `ok` completion). Events of other
    /// functions are errors; `fail` and `info` adds are attempts, not acknowledgements.
    /// - Throws: `ModelError` (model `set`) for another function, or a read whose value is
    ///   not a collection.
    ///
    /// Events with keys (kvlab's consistency set workload adds to several sets) are checked
    /// per key — each key's adds against that key's final read — and the results merged: the
    /// lists are the union over keys, the history is invalid if any key is, else unknown if
    /// any key was never read, else valid (`checkPerKey` gives each key's own result).
    public static func check(_ history: History) throws(ModelError) -> SetCheckResult {
        let parts = try checkPerKey(history)
        if parts.count == 1 { return parts[0].result }
        var merged = SetCheckResult(validity: .valid, attempted: [], acknowledged: [], finalRead: nil, finalReadPosition: nil,
                                    ok: [], lost: [], unexpected: [], recovered: [], duplicated: [], addedMoreThanOnce: [])
        for (_, result) in parts {
            if result.validity == .invalid || (result.validity == .unknown && merged.validity == .valid) {
                merged.validity = result.validity
            }
            merged.attempted += result.attempted
            merged.acknowledged += result.acknowledged
            if let read = result.finalRead { merged.finalRead = (merged.finalRead ?? []) + read }
            if let position = result.finalReadPosition { merged.finalReadPosition = max(merged.finalReadPosition ?? position, position) }
            merged.ok += result.ok
            merged.lost += result.lost
            merged.unexpected += result.unexpected
            merged.recovered += result.recovered
            merged.duplicated += result.duplicated
            merged.addedMoreThanOnce += result.addedMoreThanOnce
        }
        merged.attempted = sorted(merged.attempted)
        merged.acknowledged = sorted(merged.acknowledged)
        merged.finalRead = merged.finalRead.map(sorted)
        merged.ok = sorted(merged.ok)
        merged.lost = sorted(merged.lost)
        merged.unexpected = sorted(merged.unexpected)
        merged.recovered = sorted(merged.recovered)
        merged.duplicated = sorted(merged.duplicated)
        merged.addedMoreThanOnce = sorted(merged.addedMoreThanOnce)
        return merged
    }

    /// The set checker's result for each key of the history (one part, key nil, when no event
    /// has a key), keys in order of first appearance. Final-read positions refer to `history`.
    /// - Throws: as `check`.
    public static func checkPerKey(_ history: History) throws(ModelError) -> [(key: Value?, result: SetCheckResult)] {
        var order: [Value?] = []
        var positions: [Value?: [Int]] = [:]
        for (position, event) in history.events.enumerated() {
            if positions[event.key] == nil { order.append(event.key) }
            positions[event.key, default: []].append(position)
        }
        if order.count <= 1 { return [(order.first ?? nil, try checkPart(history.events, positions: Array(history.events.indices)))] }
        var results: [(key: Value?, result: SetCheckResult)] = []
        for key in order {
            let part = positions[key] ?? []
            results.append((key, try checkPart(part.map { history.events[$0] }, positions: part)))
        }
        return results
    }

    /// Jepsen's set checker on one set's events (`positions`: each event's place in the history).
    static func checkPart(_ events: [Event], positions: [Int]) throws(ModelError) -> SetCheckResult {
        var attempted: [Value] = []
        var attemptedSet = Set<Value>()
        var addedMoreThanOnce = Set<Value>()
        var acknowledgedSet = Set<Value>()
        var acknowledged: [Value] = []
        var finalRead: [Value]?
        var finalReadPosition: Int?
        for (index, event) in events.enumerated() {
            let position = positions[index]
            switch event.function {
            case "add":
                if event.kind == .invoke {
                    if attemptedSet.insert(event.value).inserted { attempted.append(event.value) } else {
                        addedMoreThanOnce.insert(event.value)
                    }
                } else if event.kind == .ok, acknowledgedSet.insert(event.value).inserted {
                    acknowledged.append(event.value)
                }
            case "read":
                guard event.kind == .ok else { continue }
                guard let elements = event.value.elements else {
                    throw ModelError(model: "set", operation: operation(event, position),
                                     expected: "a read whose value is a set or list of elements, e.g. #{1 2 3}")
                }
                finalRead = elements
                finalReadPosition = position
            default:
                throw ModelError(model: "set", operation: operation(event, position), expected: "add or read")
            }
        }
        guard let finalRead else {
            return SetCheckResult(validity: .unknown, attempted: sorted(attempted), acknowledged: sorted(acknowledged),
                                  finalRead: nil, finalReadPosition: nil, ok: [], lost: [], unexpected: [], recovered: [],
                                  duplicated: [], addedMoreThanOnce: sorted(Array(addedMoreThanOnce)))
        }
        var readSet = Set<Value>()
        var duplicated = Set<Value>()
        for element in finalRead where !readSet.insert(element).inserted { duplicated.insert(element) }
        let ok = acknowledged.filter { readSet.contains($0) }
        let lost = acknowledged.filter { !readSet.contains($0) }
        let unexpected = readSet.filter { !attemptedSet.contains($0) }
        let recovered = readSet.filter { attemptedSet.contains($0) && !acknowledgedSet.contains($0) }
        return SetCheckResult(validity: lost.isEmpty && unexpected.isEmpty ? .valid : .invalid,
                              attempted: sorted(attempted), acknowledged: sorted(acknowledged), finalRead: sorted(finalRead),
                              finalReadPosition: finalReadPosition, ok: sorted(ok), lost: sorted(lost),
                              unexpected: sorted(Array(unexpected)), recovered: sorted(Array(recovered)),
                              duplicated: sorted(Array(duplicated)), addedMoreThanOnce: sorted(Array(addedMoreThanOnce)))
    }

    static func operation(_ event: Event, _ position: Int) -> HistoryOperation {
        HistoryOperation(id: position, process: event.process, function: event.function, key: event.key, input: event.value,
                         output: event.value, outcome: event.kind == .ok ? .ok : .unknown, invokePosition: position,
                         returnPosition: nil, invokeLine: event.line)
    }

    /// Integers numerically, then everything else by its printed form: stable reports.
    static func sorted(_ values: [Value]) -> [Value] {
        values.sorted { a, b in
            switch (a.integer, b.integer) {
            case let (x?, y?): return x < y
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a.description < b.description
            }
        }
    }
}
