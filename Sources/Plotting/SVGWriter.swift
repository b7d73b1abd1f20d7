// A minimal SVG text builder: escaping and number formatting shared by the chart kinds.

import Foundation

/// Accumulates SVG elements; numbers are printed with two decimals so output is stable and small.
struct SVGWriter {
    private(set) var text = ""

    mutating func open(width: Double, height: Double, title: String) {
        text += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(height))\" "
        text += "viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        text += "<title>\(escape(title))</title>\n"
        text += "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#ffffff\"/>\n"
    }

    mutating func close() { text += "</svg>\n" }

    mutating func raw(_ element: String) { text += element + "\n" }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1, extra: String = "") {
        text += "<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(escape(stroke))\" stroke-width=\"\(n(width))\"\(extra)/>\n"
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, opacity: Double = 1, extra: String = "") {
        text += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(Swift.max(0, width)))\" height=\"\(n(Swift.max(0, height)))\" fill=\"\(escape(fill))\""
        if opacity < 1 { text += " fill-opacity=\"\(n(opacity))\"" }
        text += "\(extra)/>\n"
    }

    mutating func text(_ content: String, x: Double, y: Double, anchor: String = "start", extra: String = "") {
        text += "<text x=\"\(n(x))\" y=\"\(n(y))\" text-anchor=\"\(anchor)\"\(extra)>\(escape(content))</text>\n"
    }

    mutating func path(_ d: String, stroke: String, fill: String = "none", width: Double = 1.5, extra: String = "") {
        text += "<path d=\"\(d)\" stroke=\"\(escape(stroke))\" fill=\"\(escape(fill))\" stroke-width=\"\(n(width))\"\(extra)/>\n"
    }

    mutating func circle(cx: Double, cy: Double, r: Double, fill: String) {
        text += "<circle cx=\"\(n(cx))\" cy=\"\(n(cy))\" r=\"\(n(r))\" fill=\"\(escape(fill))\"/>\n"
    }
}

/// A coordinate with at most two decimals and no trailing zeros.
func n(_ value: Double) -> String {
    let rounded = (value * 100).rounded() / 100
    if rounded == rounded.rounded() { return String(Int(rounded)) }
    var text = String(format: "%.2f", rounded)
    while text.hasSuffix("0") { text.removeLast() }
    return text
}

/// Escapes text for SVG/XML content and attribute values.
func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(character)
        }
    }
    return out
}
