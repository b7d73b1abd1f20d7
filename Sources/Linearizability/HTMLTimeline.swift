// A standalone HTML page (inline CSS and SVG, no external assets) drawing a check result.

import History

extension CheckResult {
    /// A self-contained HTML page: per part, each process's operations as bars on a time axis
    /// (event order), numbered in the linearization found (for a violation: the longest
    /// linearizable prefix's), with the counterexample's operations in red and operations of
    /// unknown outcome dashed and open to the right. To stay small, it draws at most
    /// `maximumOperationsPerPart` operations per part (around the counterexample for a
    /// violation) and at most `maximumParts` parts (violations and unknowns first).
    public func htmlReport(title: String = "kvlab check", maximumParts: Int = 50, maximumOperationsPerPart: Int = 300) -> String {
        var body = ""
        let ordered = partitions.enumerated().sorted { a, b in
            a.element.verdict != b.element.verdict ? a.element.verdict > b.element.verdict : a.offset < b.offset
        }.map(\.element)
        for part in ordered.prefix(maximumParts) {
            body += section(part, limit: maximumOperationsPerPart)
        }
        if ordered.count > maximumParts {
            body += "<p class=note>\(ordered.count - maximumParts) more parts not drawn.</p>\n"
        }
        let summary = "\(verdict.rawValue) — \(operations.count) operations in \(partitions.count) parts, model \(model)"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
        h1{font-size:20px} h2{font-size:16px;margin-top:28px}
        .linearizable{color:#1a7f37} .violation{color:#cf222e} .unknown{color:#9a6700}
        .note{color:#666} svg{border:1px solid #ddd;background:#fcfcfc}
        svg text{font:11px ui-monospace,monospace}
        .op rect{fill:#dbeafe;stroke:#3b82f6} .op.open rect{stroke-dasharray:4 3;fill:#eef2ff}
        .op.bad rect{fill:#fecaca;stroke:#cf222e;stroke-width:2}
        .op:hover rect{fill:#fde68a} .order{fill:#1e3a8a;font-weight:bold}
        pre{background:#f6f8fa;padding:8px;overflow-x:auto}
        </style></head><body>
        <h1>\(escape(title)): <span class="\(verdict.rawValue)">\(escape(summary))</span></h1>
        <p class=note>Bars: operations from invocation to completion, in event order; one row per process.
        Numbers: position in the linearization found. Red: the minimal counterexample. Dashed: unknown outcome.</p>
        \(body)</body></html>

        """
    }

    func section(_ part: PartitionResult, limit: Int) -> String {
        let name = escape(partName(part))
        var out = "<h2>\(name): <span class=\"\(part.verdict.rawValue)\">\(part.verdict.rawValue)</span> "
            + "(\(part.operations.count) operations)</h2>\n"
        if part.verdict == .violation {
            out += "<pre>" + escape(explanation(part)) + "</pre>\n"
        }
        // Choose the operations to draw.
        var drawn = part.operations
        if drawn.count > limit {
            if part.verdict == .violation, !part.counterexample.isEmpty {
                let first = part.counterexample.map { operations[$0].invokePosition }.min() ?? 0
                let last = part.counterexample.map { operations[$0].returnPosition ?? Int.max }.max() ?? Int.max
                let bad = Set(part.counterexample)
                let window = drawn.filter { id in
                    let o = operations[id]
                    return bad.contains(id) || (o.invokePosition <= last && (o.returnPosition ?? Int.max) >= first)
                }
                drawn = Array(window.prefix(limit))
                let missing = part.counterexample.filter { !drawn.contains($0) }
                drawn += missing
            } else {
                drawn = Array(drawn.prefix(limit))
            }
            out += "<p class=note>Drawing \(drawn.count) of \(part.operations.count) operations.</p>\n"
        }
        var positions = Set<Int>()
        for id in drawn {
            positions.insert(operations[id].invokePosition)
            if operations[id].outcome == .ok, let r = operations[id].returnPosition { positions.insert(r) }
        }
        let axis = positions.sorted()
        var rank: [Int: Int] = [:]
        for (i, p) in axis.enumerated() { rank[p] = i }
        let processes = Array(Set(drawn.map { operations[$0].process })).sorted()
        var row: [Int: Int] = [:]
        for (i, p) in processes.enumerated() { row[p] = i }
        let step = 26.0, rowHeight = 34.0, left = 60.0
        let width = left + Double(axis.count + 2) * step + 40
        let height = Double(processes.count) * rowHeight + 20
        var order: [Int: Int] = [:]
        for (i, id) in part.linearization.enumerated() { order[id] = i + 1 }
        let bad = Set(part.counterexample)
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">\n"
        for (i, p) in processes.enumerated() {
            out += "<text x=\"4\" y=\"\(Int(Double(i) * rowHeight + 28))\">p\(p)</text>\n"
        }
        for id in drawn {
            let o = operations[id]
            let x0 = left + Double(rank[o.invokePosition] ?? 0) * step
            let open = o.outcome != .ok || o.returnPosition == nil
            let x1 = open ? width - 10 : left + Double(rank[o.returnPosition!] ?? 0) * step + step * 0.8
            let y = Double(row[o.process] ?? 0) * rowHeight + 12
            let classes = "op" + (open ? " open" : "") + (bad.contains(id) ? " bad" : "")
            let label = shortLabel(o)
            out += "<g class=\"\(classes)\"><title>\(escape(describe(id)))</title>"
            out += "<rect x=\"\(Int(x0))\" y=\"\(Int(y))\" width=\"\(Int(max(8, x1 - x0)))\" height=\"20\" rx=\"3\"/>"
            out += "<text x=\"\(Int(x0 + 3))\" y=\"\(Int(y + 14))\">\(escape(label))</text>"
            if let n = order[id] {
                out += "<text class=\"order\" x=\"\(Int(x0))\" y=\"\(Int(y - 2))\">\(n)</text>"
            }
            out += "</g>\n"
        }
        out += "</svg>\n"
        return out
    }

    func shortLabel(_ o: HistoryOperation) -> String {
        func short(_ v: Value) -> String {
            let text = v.description
            return text.count > 10 ? String(text.prefix(9)) + "…" : text
        }
        switch o.function {
        case "read": return o.outcome == .ok ? "r \(short(o.output))" : "r ?"
        case "write": return "w \(short(o.input))"
        default: return "\(o.function) \(o.outcome == .ok && o.function == "txn" ? short(o.output) : short(o.input))"
        }
    }
}

func escape(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "&": out += "&amp;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}
