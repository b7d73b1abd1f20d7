// A standalone HTML page (inline CSS and SVG, no scripts or external assets) that explains a check result.

import History

extension CheckResult {
    /// A self-contained HTML page explaining the result.
    ///
    /// Per part (violations first, then unknowns, then linearizable parts): the verdict in
    /// plain words, and a timeline with one lane per process and each operation as a bar from
    /// its invocation to its completion — on a real time axis when every drawn operation has
    /// clock times (long idle stretches cut out and marked), in event order otherwise. For a
    /// violation the timeline draws the window a reader needs: the operations overlapping the
    /// counterexample, the writes of the values involved, and the last linearized operations
    /// before them. The partial linearization found is drawn as numbered points joined by a
    /// line; the counterexample is red, the impossible operation marked ✗, the writes named in
    /// the explanation outlined in amber, operations of unknown outcome dashed and open to the
    /// right.
    ///
    /// Bounded size: at most `maximumOperationsPerPart` operations drawn per part (80 by
    /// default: more do not fit a screen's width readably),
    /// `maximumParts` parts, and sections stop once the page would pass `maximumBytes`; the
    /// page says what it left out.
    public func htmlReport(title: String = "kvlab check", maximumParts: Int = 50, maximumOperationsPerPart: Int = 80,
                           maximumBytes: Int = 8_000_000) -> String {
        let ordered = partitions.enumerated().sorted { a, b in
            a.element.verdict != b.element.verdict ? a.element.verdict > b.element.verdict : a.offset < b.offset
        }.map(\.element)
        var body = overview(ordered)
        var drawn = 0, leftForSize = 0
        for part in ordered.prefix(maximumParts) {
            let text = section(part, limit: maximumOperationsPerPart)
            if body.utf8.count + text.utf8.count > maximumBytes {
                leftForSize += 1
                continue
            }
            body += text
            drawn += 1
        }
        if ordered.count > drawn {
            var reasons: [String] = []
            if ordered.count > maximumParts { reasons.append("\(ordered.count - maximumParts) beyond the first \(maximumParts)") }
            if leftForSize > 0 { reasons.append("\(leftForSize) to keep the page under \(maximumBytes / 1_000_000) MB") }
            body += "<p class=note>\(ordered.count - drawn) more part\(ordered.count - drawn == 1 ? "" : "s") not drawn ("
                + reasons.joined(separator: "; ") + "); the text and JSON reports list every part's verdict.</p>\n"
        }
        let summary = "\(verdict.rawValue) — \(operations.count) operations in \(partitions.count) part\(partitions.count == 1 ? "" : "s"), model \(model)"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}
        h1{font-size:20px} h2{font-size:16px;margin:32px 0 6px}
        .linearizable{color:#1a7f37} .violation{color:#cf222e} .unknown{color:#9a6700}
        .note{color:#555;font-size:13px} .why{background:#fff8f0;border-left:4px solid #cf222e;padding:6px 12px;margin:8px 0}
        .why p{margin:4px 0} svg{background:#fff} .timeline{border:1px solid #ddd;display:block;margin:6px 0}
        svg text{font:11px ui-monospace,Menlo,monospace;fill:#222}
        .lane{fill:#f6f8fa} .lanelabel{font-weight:bold}
        .op rect{fill:#dbeafe;stroke:#3b82f6;stroke-width:1}
        .op.open rect{stroke-dasharray:5 3;fill:#eef2ff}
        .op.involved rect{stroke:#d97706;stroke-width:2.5}
        .op.bad rect{fill:#fecaca;stroke:#cf222e;stroke-width:2}
        .op.impossible rect{fill:#fca5a5;stroke:#b91c1c;stroke-width:3}
        .cross{fill:#b91c1c;font:bold 16px system-ui,sans-serif} svg text.outside{font-weight:bold;paint-order:stroke;stroke:#fff;stroke-width:3px}
        .lin{fill:none;stroke:#15803d;stroke-width:1.5} .fails{stroke:#b91c1c;stroke-width:1.5;stroke-dasharray:4 3} .lp{fill:#15803d} svg text.order{fill:#15803d;font-weight:bold;font-size:10px}
        .legend{display:flex;flex-wrap:wrap;gap:4px 18px;font-size:13px;margin:8px 0 14px} .legend span{display:flex;align-items:center;gap:4px}
        .axis{stroke:#888} svg text.tick{fill:#666;font-size:10px} .break{stroke:#888;stroke-dasharray:2 2}
        table{border-collapse:collapse;font-size:13px} td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}
        pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:12px}
        </style></head><body>
        <h1>\(escape(title)): <span class="\(verdict.rawValue)">\(escape(summary))</span></h1>
        \(legend())
        \(body)</body></html>

        """
    }

    // MARK: - Page parts

    /// The legend: one sample of each mark, as small inline SVGs that wrap with the text.
    func legend() -> String {
        func sample(_ classes: String, _ label: String, cross: Bool = false) -> String {
            "<span><svg width=\"\(cross ? 52 : 36)\" height=\"20\"><g class=\"\(classes)\"><rect x=\"1\" y=\"2\" width=\"34\" height=\"16\" rx=\"3\"/></g>"
                + (cross ? "<text class=cross x=\"38\" y=\"16\">✗</text>" : "") + "</svg> \(escape(label))</span>"
        }
        let line = "<span><svg width=\"40\" height=\"20\"><polyline class=lin points=\"4,15 34,5\"/>"
            + "<circle class=lp cx=\"4\" cy=\"15\" r=\"3.5\"/><circle class=lp cx=\"34\" cy=\"5\" r=\"3.5\"/></svg> "
            + "the partial linearization found (numbers: its order)</span>"
        return "<div class=legend>" + sample("op", "operation, from invocation to completion")
            + sample("op open", "unknown outcome: may take effect, or not")
            + sample("op bad", "counterexample") + sample("op bad impossible", "the operation that cannot be placed", cross: true)
            + sample("op involved", "a write named in the explanation") + line + "</div>\n"
    }

    /// A table of the parts that are not linearizable (at most 200 rows), and one line naming
    /// the linearizable ones, so that a violation among a thousand keys is at the top.
    func overview(_ ordered: [PartitionResult]) -> String {
        guard ordered.count > 1 else { return "" }
        let flagged = ordered.filter { $0.verdict != .linearizable }
        let fine = ordered.filter { $0.verdict == .linearizable }
        var out = ""
        if !flagged.isEmpty {
            out += "<table><tr><th>part</th><th>verdict</th><th>operations</th><th>time</th></tr>\n"
            for part in flagged.prefix(200) {
                out += "<tr><td>\(escape(partName(part)))</td><td class=\"\(part.verdict.rawValue)\">\(part.verdict.rawValue)</td>"
                    + "<td>\(part.operations.count)</td><td>\(formatDuration(part.elapsed))</td></tr>\n"
            }
            out += "</table>\n"
            if flagged.count > 200 { out += "<p class=note>\(flagged.count - 200) more parts that are not linearizable, not listed.</p>\n" }
        }
        if !fine.isEmpty {
            let names = fine.prefix(30).map { partName($0) }.joined(separator: ", ")
            out += "<p class=note><span class=linearizable>\(fine.count) linearizable part\(fine.count == 1 ? "" : "s")</span>: "
                + escape(names) + (fine.count > 30 ? ", …" : "") + "</p>\n"
        }
        return out
    }

    func section(_ part: PartitionResult, limit: Int) -> String {
        let plain = plainExplanation(part)
        var out = "<h2>\(escape(partName(part))): <span class=\"\(part.verdict.rawValue)\">\(part.verdict.rawValue)</span> "
            + "(\(part.operations.count) operations)</h2>\n"
        out += "<div class=\"why\"" + (part.verdict == .violation ? "" : " style=\"border-color:#bbb;background:#f8f8f8\"") + ">"
        for sentence in plain.sentences { out += "<p>\(escape(sentence))</p>" }
        out += "</div>\n"
        let (drawn, note) = window(part, involved: plain.involved, limit: limit)
        out += timeline(part, drawn: drawn, involved: Set(plain.involved))
        out += "<p class=note>\(escape(note))</p>\n"
        if part.verdict == .violation {
            var text = explanation(part)
            if text.utf8.count > 20_000 { text = String(text.prefix(20_000)) + "\n… (cut; see the text report)\n" }
            out += "<details><summary>Counterexample and linearization, as text</summary><pre>\(escape(text))</pre></details>\n"
        }
        return out
    }

    /// The operations to draw and a sentence saying which.
    func window(_ part: PartitionResult, involved: [Int], limit: Int) -> (ids: [Int], note: String) {
        let all = part.operations
        let small = max(1, min(limit, 60))
        if all.count <= small || (part.verdict == .linearizable && all.count <= limit) {
            return (all, "All \(all.count) operations of this part are drawn.")
        }
        var chosen: [Int] = []
        var taken = Set<Int>()
        func take(_ id: Int) { if taken.insert(id).inserted { chosen.append(id) } }
        var what: String
        switch part.verdict {
        case .linearizable:
            for id in all.prefix(limit) { take(id) }
            what = "the first \(chosen.count)"
        case .violation, .unknown:
            // The impossible operation and the writes named first, then the counterexample. An
            // unshrunk counterexample can be most of the part: its operations nearest the
            // impossible one come first, and at most half the window goes to them.
            if let s = part.stalledAt { take(s) }
            for id in involved { take(id) }
            let anchor = part.stalledAt.map { operations[$0].invokePosition } ?? 0
            let nearest = part.counterexample.sorted { abs(operations[$0].invokePosition - anchor) < abs(operations[$1].invokePosition - anchor) }
            for id in nearest where chosen.count < max(limit / 2, 1) { take(id) }
            let focus = chosen
            let low = focus.map { operations[$0].invokePosition }.min() ?? 0
            let high = focus.map { operations[$0].returnPosition ?? operations[$0].invokePosition }.max() ?? low
            // Operations overlapping the counterexample's span, nearest first.
            let overlapping = all.filter { id in
                let o = operations[id]
                let end = o.outcome == .ok ? (o.returnPosition ?? .max) : .max
                return o.invokePosition <= high && end >= low
            }
            let center = (low + high) / 2
            for id in overlapping.sorted(by: { abs(operations[$0].invokePosition - center) < abs(operations[$1].invokePosition - center) })
            where chosen.count < limit { take(id) }
            // The last few operations the partial linearization placed, for the line's run-up.
            let before = part.linearization.filter { !taken.contains($0) }.suffix(8)
            for id in before where chosen.count < limit { take(id) }
            // Room left: the nearest other operations, for context.
            if chosen.count < limit {
                let others = all.filter { !taken.contains($0) }
                    .sorted { abs(operations[$0].invokePosition - center) < abs(operations[$1].invokePosition - center) }
                for id in others.prefix(limit - chosen.count) { take(id) }
            }
            what = part.verdict == .violation
                ? "the operation that cannot be placed, the writes named above, the counterexample's operations nearest to it and those overlapping them (events \(low)–\(high)), the last linearized operations before them, then the nearest others"
                : "the operations around the first one the search could not place"
        }
        chosen.sort { operations[$0].invokePosition < operations[$1].invokePosition }
        let left = all.count - chosen.count
        var note = "Drawn: \(chosen.count) of \(all.count) operations of this part — \(what)"
        note += left > 0 ? "; \(left) other\(left == 1 ? " is" : "s are") not drawn (the linearization line joins the drawn ones)." : "."
        return (chosen, note)
    }

    // MARK: - The timeline

    func timeline(_ part: PartitionResult, drawn: [Int], involved: Set<Int>) -> String {
        guard !drawn.isEmpty else { return "" }
        let hasTimes = drawn.allSatisfy { id in
            let o = operations[id]
            return o.invokeTime != nil && (o.outcome != .ok || o.returnPosition == nil || o.returnTime != nil)
        }
        let plotLeft = 70.0, plotWidth = 1090.0, laneHeight = 40.0, top = 8.0
        func isOpen(_ o: HistoryOperation) -> Bool { o.outcome != .ok || o.returnPosition == nil }
        // Axis units: nanoseconds, or the rank of the event among the drawn operations' events.
        var rank: [Int: Int] = [:]
        for id in drawn {
            rank[operations[id].invokePosition] = 0
            if !isOpen(operations[id]), let r = operations[id].returnPosition { rank[r] = 0 }
        }
        for (i, p) in rank.keys.sorted().enumerated() { rank[p] = i }
        func layout(time: Bool) -> (units: (HistoryOperation) -> (Double, Double?), minimum: Double, axis: TimelineAxis) {
            let units: (HistoryOperation) -> (Double, Double?) = time
                ? { o in (Double(o.invokeTime!), isOpen(o) ? nil : Double(o.returnTime!)) }
                : { o in (Double(rank[o.invokePosition]!), isOpen(o) ? nil : Double(rank[o.returnPosition!]!)) }
            var maximum = -Double.infinity, minimum = Double.infinity
            for id in drawn {
                let (a, b) = units(operations[id])
                maximum = max(maximum, b ?? a)
                minimum = min(minimum, a)
            }
            let end = maximum + (time ? max(1, (maximum - minimum) * 0.04) : 1.5)
            let intervals = drawn.map { id -> (Double, Double) in
                let (a, b) = units(operations[id])
                return (a, b ?? end)
            }
            return (units, minimum, TimelineAxis(intervals: intervals, cutGaps: time, plotLeft: plotLeft, plotWidth: plotWidth,
                                                 maximumStep: time ? .infinity : 30))
        }
        // Real time when there is one, unless the drawn operations are so sparse in it (a key
        // touched now and then) that more than a few idle stretches would have to be cut out:
        // then event order reads better.
        var useTime = hasTimes
        var (units, minimum, axis) = layout(time: hasTimes)
        if useTime && axis.cuts.count > 4 {
            useTime = false
            (units, minimum, axis) = layout(time: false)
        }

        let processes = Array(Set(drawn.map { operations[$0].process })).sorted()
        var lane: [Int: Int] = [:]
        for (i, p) in processes.enumerated() { lane[p] = i }
        let lanesBottom = top + Double(processes.count) * laneHeight
        let height = lanesBottom + 34
        let width = plotLeft + plotWidth + 30
        var out = "<svg class=timeline xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">\n"
        for (i, p) in processes.enumerated() {
            let y = top + Double(i) * laneHeight
            if i % 2 == 0 { out += "<rect class=lane x=\"0\" y=\"\(pixel(y))\" width=\"\(Int(width))\" height=\"\(Int(laneHeight))\"/>" }
            out += "<text class=lanelabel x=\"6\" y=\"\(pixel(y + 27))\">p\(p)</text>\n"
        }
        // The axis, its cuts and ticks.
        out += "<line class=axis x1=\"\(pixel(plotLeft))\" y1=\"\(pixel(lanesBottom + 2))\" x2=\"\(pixel(plotLeft + plotWidth))\" y2=\"\(pixel(lanesBottom + 2))\"/>\n"
        let origin = minimum
        for cut in axis.cuts {
            out += "<line class=break x1=\"\(pixel(cut.x))\" y1=\"\(pixel(top))\" x2=\"\(pixel(cut.x))\" y2=\"\(pixel(lanesBottom + 2))\"/>"
            out += "<text class=tick x=\"\(pixel(cut.x - 16))\" y=\"\(pixel(lanesBottom + 28))\">⋯ \(escape(durationText(cut.skipped))) ⋯</text>\n"
        }
        var labelEnd = 8 + Double((useTime ? "time" : "event order").count) * 6.2  // after the axis's name
        for tick in axis.ticks(minimumStep: useTime ? 0 : 1, origin: useTime ? origin : 0) {
            out += "<line class=axis x1=\"\(pixel(tick.x))\" y1=\"\(pixel(lanesBottom + 2))\" x2=\"\(pixel(tick.x))\" y2=\"\(pixel(lanesBottom + 6))\"/>"
            let label: String
            if useTime {
                label = "+" + durationText(tick.value - origin)
            } else {
                let position = rank.first { $0.value == Int(tick.value) }?.key
                label = position.map { "event \($0)" } ?? ""
            }
            // A label only where it does not run into the previous one.
            if tick.x + 2 >= labelEnd {
                out += "<text class=tick x=\"\(pixel(tick.x + 2))\" y=\"\(pixel(lanesBottom + 16))\">\(escape(label))</text>\n"
                labelEnd = tick.x + 2 + Double(label.count) * 6.2 + 8
            }
        }
        out += "<text class=tick x=\"4\" y=\"\(pixel(lanesBottom + 16))\">\(useTime ? "time" : "event order")</text>\n"
        if hasTimes && !useTime {
            out += "<text class=tick x=\"4\" y=\"\(pixel(lanesBottom + 28))\">(sparse in time)</text>\n"
        }

        // The bars.
        var order: [Int: Int] = [:]
        for (i, id) in part.linearization.enumerated() { order[id] = i + 1 }
        let bad = Set(part.counterexample)
        var span: [Int: (Double, Double)] = [:]
        var overlay = ""
        for id in drawn {
            let o = operations[id]
            let (a, b) = units(o)
            let x0 = axis.x(a)
            let x1 = max(x0 + 5, b.map(axis.x) ?? (plotLeft + plotWidth))
            span[id] = (x0, x1)
            let y = top + Double(lane[o.process]!) * laneHeight + 14
            var classes = "op"
            if isOpen(o) { classes += " open" }
            if involved.contains(id) { classes += " involved" }
            if bad.contains(id) { classes += " bad" }
            if id == part.stalledAt { classes += " impossible" }
            out += "<g class=\"\(classes)\"><title>\(escape(tooltip(id)))</title>"
            out += "<rect x=\"\(pixel(x0))\" y=\"\(pixel(y))\" width=\"\(pixel(x1 - x0))\" height=\"18\" rx=\"3\"/>"
            let full = "#\(id) " + shortLabel(o)
            let label = fit(full, width: x1 - x0 - 6)
            let isFocus = id == part.stalledAt || involved.contains(id)
            if label == full || !isFocus {
                if !label.isEmpty { out += "<text x=\"\(pixel(x0 + 3))\" y=\"\(pixel(y + 13))\">\(escape(label))</text>" }
            }
            out += "</g>"
            if id == part.stalledAt {
                // The impossible operation: a cross after it and its label above, drawn last so
                // that no other bar hides them.
                overlay += "<text class=cross x=\"\(pixel(min(x1 + 3, width - 14)))\" y=\"\(pixel(y + 15))\">✗</text>"
                overlay += "<text class=outside x=\"\(pixel(min(x0, width - Double(full.count + 18) * 6.7)))\" y=\"\(pixel(y - 3))\">"
                    + "\(escape(full)) cannot be placed</text>\n"
            } else if isFocus && label != full {
                // Too short for its label: the writes the explanation names keep theirs, beside the bar.
                overlay += "<text class=outside x=\"\(pixel(min(x1 + 3, width - Double(full.count) * 6.7)))\" y=\"\(pixel(y + 13))\">\(escape(full))</text>\n"
            }
            out += "\n"
        }
        // The partial linearization: a point inside each drawn operation, in order, joined.
        var points: [(x: Double, y: Double, n: Int)] = []
        var previous = -Double.infinity
        for id in part.linearization {
            guard let (x0, x1) = span[id] else { continue }
            let o = operations[id]
            let x = min(max(previous + 2, x0 + 4), x1 - 3)
            previous = x
            points.append((x, top + Double(lane[o.process]!) * laneHeight + 32, order[id]!))
        }
        if points.count > 1 {
            out += "<polyline class=lin points=\"" + points.map { "\(pixel($0.x)),\(pixel($0.y))" }.joined(separator: " ") + "\"/>\n"
        }
        // A dashed red step from the last placed operation to the one that cannot follow it.
        if let s = part.stalledAt, let (x0, x1) = span[s], let last = points.last {
            let y = top + Double(lane[operations[s].process]!) * laneHeight + 23
            out += "<line class=fails x1=\"\(pixel(last.x))\" y1=\"\(pixel(last.y))\" x2=\"\(pixel(max(x0, min(x1, last.x + 4))))\" y2=\"\(pixel(y))\"/>\n"
        }
        var lastNumberX: [Double: Double] = [:]   // lane y -> where the last order number ends
        for p in points {
            out += "<circle class=lp cx=\"\(pixel(p.x))\" cy=\"\(pixel(p.y))\" r=\"3.5\"/>"
            // A number only where it does not run into the previous one in its lane.
            let x = p.x - 3
            if x >= (lastNumberX[p.y] ?? -.infinity) {
                out += "<text class=order x=\"\(pixel(x))\" y=\"\(pixel(p.y - 21))\">\(p.n)</text>"
                lastNumberX[p.y] = x + Double(String(p.n).count) * 6.2 + 3
            }
            out += "\n"
        }
        return out + overlay + "</svg>\n"
    }

    func tooltip(_ id: Int) -> String {
        var text = describe(id)
        let o = operations[id]
        if let t = o.invokeTime {
            text += "  time \(t)"
            if o.outcome == .ok, let r = o.returnTime { text += "..\(r) ns (\(durationText(Double(r - t))))" } else { text += ".. ns" }
        }
        return text
    }

    func shortLabel(_ o: HistoryOperation) -> String {
        func short(_ v: Value) -> String {
            let text = v.description
            return text.count > 12 ? String(text.prefix(11)) + "…" : text
        }
        switch o.function {
        case "read": return o.outcome == .ok ? "r \(short(o.output))" : "r ?"
        case "write": return "w \(short(o.input))"
        case "cas":
            if let pair = o.input.elements, pair.count == 2 { return "cas \(short(pair[0]))→\(short(pair[1]))" }
            return "cas \(short(o.input))"
        default: return "\(o.function) \(o.outcome == .ok && o.function == "txn" ? short(o.output) : short(o.input))"
        }
    }
}

/// Maps axis units (nanoseconds or event ranks) to x pixels, cutting long idle stretches out
/// of a time axis so that a far-back write and the read it explains both stay readable.
struct TimelineAxis {
    struct Block { var start: Double; var end: Double; var x: Double; var width: Double }
    struct Cut { var x: Double; var skipped: Double }

    var blocks: [Block] = []
    var cuts: [Cut] = []
    let plotLeft: Double
    let plotWidth: Double

    init(intervals: [(Double, Double)], cutGaps: Bool, plotLeft: Double, plotWidth: Double, maximumStep: Double) {
        self.plotLeft = plotLeft
        self.plotWidth = plotWidth
        // The union of the intervals; gaps longer than a fifth of the busy time become cuts.
        let sorted = intervals.sorted { $0.0 < $1.0 }
        var merged: [(Double, Double)] = []
        for (a, b) in sorted {
            if let last = merged.last, a <= last.1 { merged[merged.count - 1].1 = max(last.1, b) } else { merged.append((a, b)) }
        }
        var busy = 0.0
        for (a, b) in merged { busy += b - a }
        var spans: [(Double, Double)] = []
        for (a, b) in merged {
            if let last = spans.last, !(cutGaps && a - last.1 > max(busy * 0.2, 1)) {
                spans[spans.count - 1].1 = b
            } else {
                spans.append((a, b))
            }
        }
        let cutWidth = 44.0
        let available = plotWidth - Double(max(0, spans.count - 1)) * cutWidth
        let total = spans.reduce(0.0) { $0 + max($1.1 - $1.0, 1e-9) }
        let scale = min(available / total, maximumStep)
        var x = plotLeft
        for (i, (a, b)) in spans.enumerated() {
            if i > 0 {
                cuts.append(Cut(x: x + cutWidth / 2, skipped: a - spans[i - 1].1))
                x += cutWidth
            }
            let width = max(b - a, 1e-9) * scale
            blocks.append(Block(start: a, end: b, x: x, width: width))
            x += width
        }
    }

    func x(_ value: Double) -> Double {
        guard var block = blocks.first else { return plotLeft }
        for b in blocks where value >= b.start { block = b }
        let fraction = block.end > block.start ? (min(value, block.end) - block.start) / (block.end - block.start) : 0
        return block.x + fraction * block.width
    }

    /// Tick marks at round distances from `origin`, about one per 110 pixels.
    func ticks(minimumStep: Double, origin: Double) -> [(x: Double, value: Double)] {
        var out: [(x: Double, value: Double)] = []
        for block in blocks {
            let count = max(1, Int(block.width / 110))
            let raw = (block.end - block.start) / Double(count)
            guard raw > 0 else { out.append((block.x, block.start)); continue }
            var magnitude = 1.0
            while magnitude * 10 <= raw { magnitude *= 10 }
            while magnitude > raw { magnitude /= 10 }
            let step = max(minimumStep, [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw)
            var value = origin + ((block.start - origin) / step).rounded(.up) * step
            while value <= block.end {
                out.append((x(value), value))
                value += step
            }
        }
        return out
    }
}

/// Nanoseconds as `850 ns`, `12.5 µs`, `3.2 ms`, `1.25 s`.
func durationText(_ nanoseconds: Double) -> String {
    let n = abs(nanoseconds)
    func trim(_ x: Double) -> String {
        let r = (x * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }
    if n < 1_000 { return trim(nanoseconds) + " ns" }
    if n < 1_000_000 { return trim(nanoseconds / 1_000) + " µs" }
    if n < 1_000_000_000 { return trim(nanoseconds / 1_000_000) + " ms" }
    return trim(nanoseconds / 1_000_000_000) + " s"
}

/// The label cut to what fits in `width` pixels of 11px monospace text.
func fit(_ label: String, width: Double) -> String {
    let chars = Int(width / 6.7)
    if chars >= label.count { return label }
    if chars < 5 { return "" }
    return String(label.prefix(chars - 1)) + "…"
}

/// One decimal place is plenty for pixels, and keeps the page small.
func pixel(_ x: Double) -> String {
    let r = (x * 10).rounded() / 10
    return r == r.rounded() ? String(Int(r)) : String(r)
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
