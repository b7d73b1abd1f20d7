// `kvlab ring`'s outputs: an aligned text table, JSON, and a standalone HTML page with SVG line charts.

import Foundation
import KVClient

/// Renders placement rows for people (text, HTML) and programs (JSON).
public enum PlacementReport {
    /// One line per router and N: balance and movement against their ideals.
    public static func text(_ rows: [PlacementRow]) -> String {
        func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, w - s.count))
            return left ? s + fill : fill + s
        }
        func number(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
        var out = [pad("router", 26, left: true), pad("N", 3), pad("max/mean", 8), pad("min/mean", 8), pad("cv", 7),
                   pad("join", 8), pad("ideal", 8), pad("leave", 8), pad("ideal", 8)].joined(separator: " ") + "\n"
        var previous = ""
        for r in rows {
            if r.router != previous && !previous.isEmpty { out += "\n" }
            previous = r.router
            out += [pad(r.router, 26, left: true), pad(String(r.nodes), 3), pad(number(r.maxOverMean, 3), 8),
                    pad(number(r.minOverMean, 3), 8), pad(number(r.coefficientOfVariation, 4), 7),
                    pad(number(r.joinMoved, 4), 8), pad(number(r.joinIdeal, 4), 8),
                    pad(number(r.leaveMoved, 4), 8), pad(number(r.leaveIdeal, 4), 8)].joined(separator: " ")
            out += r.joinMovesOnlyToNewNode ? "\n" : "  (join moved keys between old nodes)\n"
        }
        return out
    }

    /// The rows as a JSON document: `{"keys": K, "rows": [...]}`.
    public static func json(_ rows: [PlacementRow], source: String) throws -> Data {
        struct Document: Codable { var source: String; var keys: Int; var rows: [PlacementRow] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(Document(source: source, keys: rows.first?.keys ?? 0, rows: rows))
    }

    /// A standalone page: max/mean load, coefficient of variation, and join movement over its
    /// ideal, each against N, one line per router; then the table.
    public static func html(_ rows: [PlacementRow], title: String, source: String) -> String {
        let routers = rows.reduce(into: [String]()) { if !$0.contains($1.router) { $0.append($1.router) } }
        let series: (KeyPath<PlacementRow, Double>) -> [(String, [(Double, Double)])] = { path in
            routers.map { name in (name, rows.filter { $0.router == name }.map { (Double($0.nodes), $0[keyPath: path]) }) }
        }
        let ratio: [(String, [(Double, Double)])] = routers.map { name in
            (name, rows.filter { $0.router == name }.map { (Double($0.nodes), $0.joinMoved / $0.joinIdeal) })
        }
        let charts = [
            lineChart(title: "Most loaded node / mean (1 = perfect balance)", series: series(\.maxOverMean), logY: true),
            lineChart(title: "Coefficient of variation of per-node keys", series: series(\.coefficientOfVariation), logY: true),
            lineChart(title: "Keys moved when a node joins, over the ideal 1/(N+1)", series: ratio, logY: false),
        ]
        let table = text(rows).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>body{font-family:sans-serif;margin:24px;max-width:1100px} svg{background:#fff;border:1px solid #ddd;margin:8px 0}
        pre{font-size:12px;background:#f6f6f6;padding:8px}</style></head>
        <body><h1>\(escape(title))</h1><p>\(escape(source))</p>
        \(charts.joined(separator: "\n"))
        <h2>Table</h2><pre>\(table)</pre></body></html>

        """
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000"]

    /// A minimal SVG line chart (N on x, one polyline per series, a legend at the right).
    static func lineChart(title: String, series: [(String, [(Double, Double)])], logY: Bool) -> String {
        let width = 1000.0, height = 360.0, left = 60.0, right = 250.0, top = 30.0, bottom = 40.0
        let points = series.flatMap(\.1)
        guard let minX = points.map(\.0).min(), let maxX = points.map(\.0).max() else { return "" }
        let ys = points.map(\.1).filter { !logY || $0 > 0 }
        var minY = ys.min() ?? 0, maxY = ys.max() ?? 1
        if !logY { minY = min(0, minY) }
        if maxY <= minY { maxY = minY + 1 }
        let f: (Double) -> Double = logY ? { log10($0) } : { $0 }
        let (lo, hi) = (f(minY) - (logY ? 0.02 : 0), f(maxY) + (logY ? 0.02 : (maxY - minY) * 0.05))
        let plotW = width - left - right, plotH = height - top - bottom
        func x(_ v: Double) -> Double { left + (maxX == minX ? 0.5 : (v - minX) / (maxX - minX)) * plotW }
        func y(_ v: Double) -> Double { top + plotH - (f(max(v, logY ? minY : -Double.infinity)) - lo) / (hi - lo) * plotH }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-size=\"11\">\n"
        svg += "<text x=\"\(left)\" y=\"18\" font-size=\"14\" font-weight=\"bold\">\(escape(title))</text>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(left + plotW)\" y2=\"\(top + plotH)\" stroke=\"#333\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotH)\" stroke=\"#333\"/>\n"
        for n in Int(minX)...Int(maxX) {
            svg += "<text x=\"\(x(Double(n)))\" y=\"\(top + plotH + 15)\" text-anchor=\"middle\">\(n)</text>"
        }
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 5)\" text-anchor=\"middle\">nodes N</text>\n"
        for i in 0...5 {
            let t = lo + (hi - lo) * Double(i) / 5
            let v = logY ? pow(10, t) : t
            let py = top + plotH - Double(i) / 5 * plotH
            svg += "<line x1=\"\(left)\" y1=\"\(py)\" x2=\"\(left + plotW)\" y2=\"\(py)\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(left - 5)\" y=\"\(py + 4)\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
        }
        for (i, (name, data)) in series.enumerated() {
            let colour = palette[i % palette.count]
            let path = data.map { "\(String(format: "%.1f", x($0.0))),\(String(format: "%.1f", y($0.1)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            let ly = top + 14 * Double(i)
            svg += "<line x1=\"\(width - right + 15)\" y1=\"\(ly)\" x2=\"\(width - right + 35)\" y2=\"\(ly)\" stroke=\"\(colour)\" stroke-width=\"3\"/>"
            svg += "<text x=\"\(width - right + 40)\" y=\"\(ly + 4)\">\(escape(name))</text>\n"
        }
        svg += "</svg>"
        return svg
    }
}
