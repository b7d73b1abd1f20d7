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
            case .violation:
                for sentence in plainExplanation(part).sentences { out += "  " + sentence + "\n" }
                out += explanation(part)
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

    /// How many counterexample operations the text lists.
    var maximumCounterexampleListed: Int { 100 }

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
        // Listed up to a bound: a counterexample left unshrunk (time ran out) can be the whole part.
        let listed = part.counterexample.sorted(by: { operations[$0].invokePosition < operations[$1].invokePosition })
        for id in listed.prefix(maximumCounterexampleListed) { out += "    \(describe(id))\n" }
        if listed.count > maximumCounterexampleListed {
            out += "    ... and \(listed.count - maximumCounterexampleListed) more (--json lists them all)\n"
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
    /// verdict, operation count, counterexample and prefix (as operations), linearization ids,
    /// and for a violation its plain-words `explanation` (sentences).
    /// - Parameter annotations: extra top-level members, as (name, JSON text) pairs (the CLI
    ///   adds how it read the history, e.g. `("independent", "true")`).
    public func jsonReport(annotations: [(String, String)] = []) -> String {
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
                fields.append("\"explanation\":[" + plainExplanation(p).sentences.map(JSONLinesFormat.jsonQuoted).joined(separator: ",") + "]")
            }
            if p.verdict == .unknown {
                fields.append("\"stopReason\":\"\(p.stopReason?.rawValue ?? "unknown")\"")
                fields.append("\"linearized\":\(p.linearization.count)")
                fields.append("\"stalledAt\":\(p.stalledAt.map(op) ?? "null")")
            }
            fields.append("\"linearization\":[" + p.linearization.map(String.init).joined(separator: ",") + "]")
            parts.append("{" + fields.joined(separator: ",") + "}")
        }
        let extra = annotations.map { "\(JSONLinesFormat.jsonQuoted($0.0)):\($0.1)," }.joined()
        return "{\"verdict\":\"\(verdict.rawValue)\",\"model\":\"\(model)\",\(extra)\"operations\":\(operations.count),"
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

// MARK: - Plain words

/// A part's verdict in plain sentences, and the operations they mention (the timeline draws
/// those too).
struct PlainExplanation {
    var sentences: [String]
    /// Operations the sentences name besides the counterexample: the writes whose values are
    /// involved, and the ones that overwrote them.
    var involved: [Int]
}

extension CheckResult {
    /// What a write-like operation leaves in a register or a key: a write's value, a cas's new
    /// value, nil for a delete; nil (not a write) for anything else.
    func writtenValue(_ o: HistoryOperation) -> Value? {
        switch o.function {
        case "write": return o.input
        case "delete": return Value.null
        case "cas":
            guard let pair = o.input.elements, pair.count == 2 else { return nil }
            return pair[1]
        default: return nil
        }
    }

    func shortValue(_ v: Value) -> String {
        let text = v.description
        return text.count > 24 ? String(text.prefix(23)) + "…" : text
    }

    func opName(_ id: Int) -> String { "p\(operations[id].process), op #\(id)" }

    /// Sentences explaining the part's verdict. For a violation whose impossible operation is
    /// a read (or a successful cas), they name the value it saw, the writes that could be the
    /// last before it, and why the write of the value it saw cannot be (never written, written
    /// later, or overwritten before the read began); otherwise they describe the operation and
    /// the counterexample.
    func plainExplanation(_ part: PartitionResult) -> PlainExplanation {
        switch part.verdict {
        case .linearizable:
            return PlainExplanation(sentences: ["All \(part.operations.count) operations fit one order consistent with real time."],
                                    involved: [])
        case .unknown:
            var text = "The search stopped (a time or memory limit) after placing \(part.linearization.count) of \(part.operations.count) operations"
            if let s = part.stalledAt { text += "; the first it could not place is #\(s) \(operations[s])" }
            return PlainExplanation(sentences: [text + "."], involved: [])
        case .violation:
            break
        }
        var sentences: [String] = []
        var involved: [Int] = []
        let placed = part.linearization.count
        guard let s = part.stalledAt else {
            sentences.append("No order of these operations is a run of the model; the counterexample names \(part.counterexample.count) operations that conflict.")
            return PlainExplanation(sentences: sentences, involved: [])
        }
        let op = operations[s]
        let keyText = op.key.map { " of \($0.text ?? $0.description)" } ?? ""
        var seen: Value?
        // Appends build a read's value from several operations: no single write explains it,
        // so such parts get the general explanation.
        let appends = part.operations.contains { operations[$0].function == "append" }
        if appends {
            // (falls through to the general explanation below)
        } else if op.function == "read" && op.outcome == .ok {
            seen = op.output
            sentences.append("p\(op.process)'s read\(keyText) (op #\(s)) returned \(shortValue(op.output)).")
        } else if op.function == "cas", op.outcome == .ok, let pair = op.input.elements, pair.count == 2 {
            seen = pair[0]
            sentences.append("p\(op.process)'s cas\(keyText) from \(shortValue(pair[0])) to \(shortValue(pair[1])) (op #\(s)) succeeded, so it saw \(shortValue(pair[0])).")
        }
        // The key-value model reads "" as nil (Porcupine's convention).
        if model == "kv", seen == .string("") { seen = .null }
        if let seen, let ret = op.returnPosition {
            let invoke = op.invokePosition
            // An ok write that completed before the read began, and began after another write
            // completed, supersedes that write: the latest such invocation decides.
            var latestBefore: Int?          // the ok write with the greatest invocation among those done before `op` began
            for id in part.operations where id != s {
                let w = operations[id]
                guard w.outcome == .ok, writtenValue(w) != nil, let r = w.returnPosition, r < invoke else { continue }
                if latestBefore.map({ operations[$0].invokePosition < w.invokePosition }) ?? true { latestBefore = id }
            }
            let frontier = latestBefore.map { operations[$0].invokePosition } ?? -1
            var candidates: [Int] = []
            var writersOfSeen: [Int] = []
            for id in part.operations where id != s {
                let w = operations[id]
                guard let written = writtenValue(w) else { continue }
                if written == seen { writersOfSeen.append(id) }
                guard w.invokePosition < ret else { continue }
                let superseded = w.outcome == .ok && (w.returnPosition ?? .max) < frontier
                if !superseded { candidates.append(id) }
            }
            if !candidates.isEmpty {
                let listed = candidates.suffix(6).map { "\(shortValue(writtenValue(operations[$0])!)) (\(opName($0))\(operations[$0].outcome == .ok ? "" : ", outcome unknown"))" }
                var text = "The last writes that could precede it wrote " + listed.joined(separator: ", ")
                if candidates.count > 6 { text += ", and \(candidates.count - 6) more" }
                if latestBefore == nil { text += ", or none did and the value was still the initial one" }
                sentences.append(text + ".")
                involved += candidates.suffix(6)
            } else if latestBefore == nil {
                sentences.append("No write could precede it: the value was the initial one.")
            }
            if writersOfSeen.isEmpty {
                if seen.isNull {
                    if let w = latestBefore {
                        sentences.append("nil is only the initial value, and p\(operations[w].process) (op #\(w)) had written \(shortValue(writtenValue(operations[w])!)) before the read began. (Knossos would accept this read: `--nil-reads any` reads an ok nil as \"unknown\".)")
                    }
                } else {
                    sentences.append("No operation wrote \(shortValue(seen)): the value was never written.")
                }
            }
            for wv in writersOfSeen.prefix(3) {
                let w = operations[wv]
                involved.append(wv)
                if candidates.contains(wv) {
                    sentences.append("The write of \(shortValue(seen)) (\(opName(wv))) could precede it on its own, yet no order of the operations around them fits: the counterexample names the \(part.counterexample.count) operations that conflict.")
                } else if w.invokePosition > ret {
                    sentences.append("\(shortValue(seen)) was written only by p\(w.process) (op #\(wv)), which began after the read had completed: a read from the future.")
                } else if let b = latestBefore {
                    // `w` is superseded: `b` began after `w` completed and completed before `op` began.
                    involved.append(b)
                    sentences.append("\(shortValue(seen)) was written by p\(w.process) (op #\(wv)), but that write completed before p\(operations[b].process) (op #\(b)) began writing \(shortValue(writtenValue(operations[b])!)), which completed before the read began: \(shortValue(seen)) had been overwritten.")
                }
            }
        } else {
            sentences.append("#\(s) \(op) completed, but no order of the operations before it allows it.")
            if !part.counterexampleStartStates.isEmpty {
                let states = part.counterexampleStartStates.prefix(4).joined(separator: ", ")
                sentences.append("The operations before event \(part.counterexampleStartPosition ?? 0) can leave the object only in \(states)\(part.counterexampleStartStates.count > 4 ? ", …" : "").")
            }
        }
        sentences.append("The partial linearization found places \(placed) operation\(placed == 1 ? "" : "s") (numbered in the timeline); op #\(s), marked ✗, cannot follow them. The counterexample has \(part.counterexample.count) operation\(part.counterexample.count == 1 ? "" : "s").")
        var unique: [Int] = []
        for id in involved where !unique.contains(id) { unique.append(id) }
        return PlainExplanation(sentences: sentences, involved: unique)
    }
}
