// Inline SVG charts for the chaos report: lines and stacked bars over time, with shaded time bands.

import Foundation

/// A line of a line chart: y values at x (nil leaves a gap).
struct ChartSeries {
    var name: String
    var color: String
    var points: [(x: Double, y: Double?)]
}

/// A shaded stretch of the x axis (a fault window), labelled at its top.
struct ChartBand {
    var start: Double
    var end: Double
    var label: String
    var color: String
}

/// One stack of a stacked bar chart.
struct ChartStack {
    var x: Double
    var values: [Double]
}

enum ChaosCharts {
    static let width = 860.0, height = 280.0
    static let left = 64.0, right = 20.0, top = 28.0, bottom = 46.0

    /// 1, 2 or 5 times a power of ten, giving about `count` ticks over `0...maximum`.
    static func tickStep(_ maximum: Double, count: Double = 5) -> Double {
        guard maximum > 0, maximum.isFinite else { return 1 }
        let raw = maximum / count
        var power = 1.0
        while power * 10 <= raw { power *= 10 }
        while power > raw { power /= 10 }
        for m in [1.0, 2, 5, 10] where m * power >= raw { return m * power }
        return 10 * power
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e12 { return String(Int64(v)) }
        let text = String((v * 100).rounded() / 100)
        return text
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The frame: axes, ticks, grid, labels and bands; returns the SVG prefix and the mapping.
    static func frame(title: String, xLabel: String, yLabel: String, xMax: Double, yMax: Double,
                      bands: [ChartBand]) -> (svg: String, x: (Double) -> Double, y: (Double) -> Double) {
        let plotW = width - left - right, plotH = height - top - bottom
        let xStep = tickStep(xMax, count: 10), yStep = tickStep(yMax)
        let xTop = max(xStep, (xMax / xStep).rounded(.up) * xStep)
        let yTop = max(yStep, (yMax / yStep).rounded(.up) * yStep)
        let x: (Double) -> Double = { left + max(0, min($0, xTop)) / xTop * plotW }
        let y: (Double) -> Double = { top + plotH - max(0, min($0, yTop)) / yTop * plotH }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        svg += "<title>\(escape(title))</title>\n"
        svg += "<text x=\"\(left)\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>\n"
        for band in bands {
            let x0 = x(band.start), x1 = x(band.end)
            svg += "<rect x=\"\(x0)\" y=\"\(top)\" width=\"\(max(1, x1 - x0))\" height=\"\(plotH)\" fill=\"\(band.color)\" fill-opacity=\"0.18\"><title>\(escape(band.label)) \(format(band.start))–\(format(band.end)) s</title></rect>\n"
            svg += "<text x=\"\(x0 + 2)\" y=\"\(top + 10)\" font-size=\"9\" fill=\"#933\">\(escape(band.label))</text>\n"
        }
        var v = 0.0
        while v <= yTop + yStep / 2 {
            svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(v))\" y2=\"\(y(v))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(format(v))</text>\n"
            v += yStep
        }
        v = 0
        while v <= xTop + xStep / 2 {
            svg += "<line x1=\"\(x(v))\" x2=\"\(x(v))\" y1=\"\(top + plotH)\" y2=\"\(top + plotH + 4)\" stroke=\"#333\"/>"
            svg += "<text x=\"\(x(v))\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\">\(format(v))</text>\n"
            v += xStep
        }
        svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(top + plotH)\" y2=\"\(top + plotH)\" stroke=\"#333\"/>"
        svg += "<line x1=\"\(left)\" x2=\"\(left)\" y1=\"\(top)\" y2=\"\(top + plotH)\" stroke=\"#333\"/>\n"
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(16 \(top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        return (svg, x, y)
    }

    static func legend(_ entries: [(name: String, color: String)]) -> String {
        var svg = ""
        var lx = width - right - Double(entries.count) * 110
        for entry in entries {
            svg += "<rect x=\"\(lx)\" y=\"8\" width=\"10\" height=\"10\" fill=\"\(entry.color)\"/>"
            svg += "<text x=\"\(lx + 14)\" y=\"17\">\(escape(entry.name))</text>\n"
            lx += 110
        }
        return svg
    }

    /// Lines over x, gaps where y is nil.
    static func lineChart(title: String, xLabel: String, yLabel: String, series: [ChartSeries], bands: [ChartBand],
                          xMax: Double) -> String {
        let yMax = series.flatMap { $0.points.compactMap(\.y) }.max() ?? 1
        let f = frame(title: title, xLabel: xLabel, yLabel: yLabel, xMax: xMax, yMax: yMax, bands: bands)
        var svg = f.svg
        for s in series {
            var path = ""
            var penDown = false
            for point in s.points {
                guard let yv = point.y else { penDown = false; continue }
                path += (penDown ? "L" : "M") + "\(f.x(point.x)),\(f.y(yv)) "
                penDown = true
            }
            svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.6\"><title>\(escape(s.name))</title></path>\n"
        }
        svg += legend(series.map { ($0.name, $0.color) })
        return svg + "</svg>\n"
    }

    /// Stacked bars, one per x (of width 1 on the x axis), categories from the bottom up.
    static func stackedBarChart(title: String, xLabel: String, yLabel: String, categories: [(name: String, color: String)],
                                stacks: [ChartStack], bands: [ChartBand], xMax: Double) -> String {
        let yMax = stacks.map { $0.values.reduce(0, +) }.max() ?? 1
        let f = frame(title: title, xLabel: xLabel, yLabel: yLabel, xMax: xMax, yMax: max(1, yMax), bands: bands)
        var svg = f.svg
        for stack in stacks {
            var base = 0.0
            let x0 = f.x(stack.x), x1 = f.x(stack.x + 1)
            for (i, value) in stack.values.enumerated() where value > 0 && i < categories.count {
                let yTop = f.y(base + value), yBottom = f.y(base)
                svg += "<rect x=\"\(x0 + 0.5)\" y=\"\(yTop)\" width=\"\(max(0.5, x1 - x0 - 1))\" height=\"\(yBottom - yTop)\" fill=\"\(categories[i].color)\"><title>\(format(stack.x)) s: \(format(value)) \(escape(categories[i].name))</title></rect>"
                base += value
            }
            svg += "\n"
        }
        svg += legend(categories)
        return svg + "</svg>\n"
    }

    /// One row per fault (a horizontal bar from start to heal) on the run's time axis.
    static func timeline(title: String, rows: [(label: String, start: Double, end: Double, color: String)], xMax: Double) -> String {
        let rowHeight = 18.0
        let plotW = width - left - right - 120
        let h = top + Double(max(1, rows.count)) * rowHeight + bottom
        let xStep = tickStep(xMax, count: 10)
        let xTop = max(xStep, (xMax / xStep).rounded(.up) * xStep)
        let x: (Double) -> Double = { left + 120 + max(0, min($0, xTop)) / xTop * plotW }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(h))\" width=\"\(Int(width))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        svg += "<text x=\"\(left)\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>\n"
        for (i, row) in rows.enumerated() {
            let y = top + Double(i) * rowHeight
            svg += "<text x=\"\(left + 114)\" y=\"\(y + 12)\" text-anchor=\"end\">\(escape(row.label))</text>"
            svg += "<rect x=\"\(x(row.start))\" y=\"\(y + 2)\" width=\"\(max(2, x(row.end) - x(row.start)))\" height=\"\(rowHeight - 4)\" fill=\"\(row.color)\"><title>\(escape(row.label)): \(format(row.start))–\(format(row.end)) s</title></rect>\n"
        }
        let axisY = top + Double(max(1, rows.count)) * rowHeight
        svg += "<line x1=\"\(x(0))\" x2=\"\(x(xTop))\" y1=\"\(axisY)\" y2=\"\(axisY)\" stroke=\"#333\"/>\n"
        var v = 0.0
        while v <= xTop + xStep / 2 {
            svg += "<text x=\"\(x(v))\" y=\"\(axisY + 14)\" text-anchor=\"middle\">\(format(v))</text>"
            v += xStep
        }
        svg += "\n<text x=\"\(x(xTop / 2))\" y=\"\(h - 8)\" text-anchor=\"middle\">time since start (s)</text>\n"
        return svg + "</svg>\n"
    }
}
