// Rendering a check result for people (text) and programs (JSON).

import History

extension CheckResult {
    /// The parts with this verdict.
    public func partitions(_ verdict: Verdict) -> [PartitionResult] { partitions.filter { $0.verdict == verdict } }

    /// A readable report: one line per part (violations and unknowns first, linearizable
    /// parts summarised beyond `maximumListed`), then each violation's counterexample and
    /// longest linearizable prefix, and the overall verdict.
    public func textReport(maximumListed: Int = 20) -> String {
        var out = ""
        let ordered = partitions.sorted { a, b in a.verdict != b.verdict ? a.verdict > b.verdict : false }
        var listed = 0
        for part in ordered {
            if part.verdict == .linearizable && listed >= maximumListed { continue }
            listed += 1
            out += "\(partName(part)): \(part.verdict.rawValue) (\(part.operations.count) operations, \(formatDuration(part.elapsed)))\n"
            switch part.verdict {
            case .violation: out += explanation(part)
            case .unknown:
                if part.stopReason == .notChecked { out += "  \(StopReason.notChecked.explanation)\n"; continue }
                out += "  \(part.stopReason?.explanation ?? "timed out") after linearizing \(part.linearization.count) of \(part.operations.count) operations"
                if let stalled = part.stalledAt { out += "; first operation not placed: \(describe(stalled))" }
                out += "\n"
            case .linearizable: break
            }
        }
        let hidden = partitions.count - listed
        if hidden > 0 { out += "... and \(hidden) more linearizable parts\n" }
        let violations = partitions(.violation).count, unknowns = partitions(.unknown).count
        out += "overall: \(verdict.rawValue) — \(operations.count) operations in \(partitions.count) part\(partitions.count == 1 ? "" : "s")"
        out += " (\(violations) violation\(violations == 1 ? "" : "s"), \(unknowns) unknown), model \(model), \(formatDuration(elapsed))\n"
        return out
    }

    func partName(_ part: PartitionResult) -> String {
        guard let key = part.key else { return "history" }
        return "key \(key.description)"
    }

    func describe(_ id: Int) -> String {
        let op = operations[id]
        var text = "#\(id) \(op)"
        let end = op.outcome == .ok ? op.returnPosition.map(String.init) ?? "∞" : "∞"
        text += "   [event \(op.invokePosition)..\(end)]"
        return text
    }

    func explanation(_ part: PartitionResult) -> String {
        var out = ""
        let minimal = part.counterexampleIsMinimal ? "minimal" : "reduced (time ran out before it was minimal)"
        let count = part.counterexample.count
        out += "  \(minimal) counterexample: \(count == 1 ? "this operation" : "these \(count) operations") cannot be linearized,\n"
        if let start = part.counterexampleStartPosition {
            let states = part.counterexampleStartStates
            let shown = states.prefix(5).joined(separator: ", ") + (states.count > 5 ? ", ... (\(states.count) states)" : "")
            out += "  starting from \(states.count == 1 ? "the state" : "any of the states") the operations before event \(start) leave: \(shown),\n"
        }
        out += "  even if every other operation had taken effect (with any result) at any point of its own interval, or not at all:\n"
        for id in part.counterexample.sorted(by: { operations[$0].invokePosition < operations[$1].invokePosition }) {
            out += "    \(describe(id))\n"
        }
        if let stalled = part.stalledAt {
            out += "  the history is linearizable up to the completion of \(describe(stalled)), and not after it\n"
        }
        out += "  longest linearizable prefix: \(part.longestLinearizablePrefix.count) completed operations"
        if !part.linearization.isEmpty {
            let tail = part.linearization.suffix(8)
            out += "; a linearization of it\(part.linearization.count > 8 ? " ends" : ""):\n"
            for id in tail { out += "    \(describe(id))\n" }
        } else {
            out += "\n"
        }
        return out
    }

    /// The result as one JSON document: verdict, model, elapsed seconds, and per part the key,
    /// verdict, operation count, counterexample and prefix (as operations), linearization ids.
    public func jsonReport() -> String {
        func op(_ id: Int) -> String {
            let o = operations[id]
            var fields = ["\"id\":\(id)", "\"process\":\(o.process)", "\"f\":\(JSONLinesFormat.jsonQuoted(o.function))"]
            if let key = o.key { fields.append("\"key\":\(json(key))") }
            fields.append("\"input\":\(json(o.input))")
            fields.append("\"output\":\(json(o.output))")
            fields.append("\"outcome\":\"\(o.outcome.rawValue)\"")
            return "{" + fields.joined(separator: ",") + "}"
        }
        var parts: [String] = []
        for p in partitions {
            var fields = ["\"key\":\(p.key.map(json) ?? "null")", "\"verdict\":\"\(p.verdict.rawValue)\"",
                          "\"operations\":\(p.operations.count)", "\"seconds\":\(seconds(p.elapsed))"]
            if p.verdict == .violation {
                fields.append("\"counterexample\":[" + p.counterexample.map(op).joined(separator: ",") + "]")
                fields.append("\"counterexampleIsMinimal\":\(p.counterexampleIsMinimal)")
                fields.append("\"counterexampleStartPosition\":\(p.counterexampleStartPosition.map(String.init) ?? "null")")
                fields.append("\"counterexampleStartStates\":[" + p.counterexampleStartStates.map(JSONLinesFormat.jsonQuoted).joined(separator: ",") + "]")
                fields.append("\"longestLinearizablePrefix\":\(p.longestLinearizablePrefix.count)")
                fields.append("\"stalledAt\":\(p.stalledAt.map(op) ?? "null")")
            }
            if p.verdict == .unknown {
                fields.append("\"stopReason\":\"\(p.stopReason?.rawValue ?? "unknown")\"")
                fields.append("\"linearized\":\(p.linearization.count)")
                fields.append("\"stalledAt\":\(p.stalledAt.map(op) ?? "null")")
            }
            fields.append("\"linearization\":[" + p.linearization.map(String.init).joined(separator: ",") + "]")
            parts.append("{" + fields.joined(separator: ",") + "}")
        }
        return "{\"verdict\":\"\(verdict.rawValue)\",\"model\":\"\(model)\",\"operations\":\(operations.count),"
            + "\"seconds\":\(seconds(elapsed)),\"partitions\":[" + parts.joined(separator: ",") + "]}"
    }

    func json(_ value: Value) -> String {
        var out = ""
        JSONLinesFormat.appendJSON(value, to: &out)
        return out
    }
}

func seconds(_ d: Duration) -> String {
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    return String(format3(s))
}

func format3(_ x: Double) -> String {
    let scaled = (x * 1000).rounded() / 1000
    return String(scaled)
}

func formatDuration(_ d: Duration) -> String {
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    if s < 1 { return format3(s * 1000) + " ms" }
    return format3(s) + " s"
}
