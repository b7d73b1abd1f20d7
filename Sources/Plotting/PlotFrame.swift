// The parts every chart kind shares: layout, title, grid, ticks, axis titles, shaded windows, legend.

/// Pixel layout of a chart and its resolved scales; draws everything except the data.
struct PlotFrame {
    let size: ChartSize
    let title: String
    let xAxis: Axis
    let yAxis: Axis
    let x: ResolvedScale
    let y: ResolvedScale
    let legend: [(name: String, color: String, dashed: Bool)]
    let clipIdentifier: String

    let left: Double = 72
    let top: Double = 34
    let bottom: Double = 52
    var right: Double { legend.isEmpty ? 20 : 24 + legendWidth }
    var legendWidth: Double {
        let longest = legend.map { $0.name.count }.max() ?? 0
        return Swift.min(220, 34 + Double(longest) * 7)
    }
    var plotWidth: Double { size.width - left - right }
    var plotHeight: Double { size.height - top - bottom }

    func px(_ value: Double) -> Double { left + x.fraction(value) * plotWidth }
    func py(_ value: Double) -> Double { top + (1 - y.fraction(value)) * plotHeight }

    /// Title, grid lines, tick labels, axis titles, shaded windows; opens the clipped data group.
    func drawBackground(_ svg: inout SVGWriter, windows: [ShadedWindow]) {
        svg.text(title, x: size.width / 2, y: 20, anchor: "middle", extra: " font-size=\"15\" font-weight=\"bold\"")
        svg.raw("<defs><clipPath id=\"\(escape(clipIdentifier))\"><rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(plotWidth))\" height=\"\(n(plotHeight))\"/></clipPath></defs>")
        for window in windows {
            let x1 = Swift.max(left, Swift.min(left + plotWidth, px(window.start)))
            let x2 = Swift.max(left, Swift.min(left + plotWidth, px(window.end)))
            svg.rect(x: x1, y: top, width: x2 - x1, height: plotHeight, fill: window.color, opacity: 0.15, extra: " class=\"window\"")
            if !window.label.isEmpty {
                svg.text(window.label, x: x1 + 3, y: top + 12, extra: " font-size=\"10\" fill=\"\(escape(window.color))\"")
            }
        }
        svg.raw("<g class=\"grid\" stroke=\"#e0e0e0\">")
        for tick in y.ticks {
            svg.line(x1: left, y1: py(tick.value), x2: left + plotWidth, y2: py(tick.value), stroke: "#e0e0e0")
        }
        for tick in x.ticks {
            svg.line(x1: px(tick.value), y1: top, x2: px(tick.value), y2: top + plotHeight, stroke: "#e0e0e0")
        }
        svg.raw("</g>")
        svg.raw("<g class=\"y-axis\">")
        for tick in y.ticks {
            svg.line(x1: left - 5, y1: py(tick.value), x2: left, y2: py(tick.value), stroke: "#333333")
            svg.text(tick.label, x: left - 8, y: py(tick.value) + 4, anchor: "end")
        }
        svg.raw("</g>")
        svg.raw("<g class=\"x-axis\">")
        for tick in x.ticks {
            svg.line(x1: px(tick.value), y1: top + plotHeight, x2: px(tick.value), y2: top + plotHeight + 5, stroke: "#333333")
            svg.text(tick.label, x: px(tick.value), y: top + plotHeight + 18, anchor: "middle")
        }
        svg.raw("</g>")
        svg.text(xAxis.title, x: left + plotWidth / 2, y: size.height - 10, anchor: "middle", extra: " class=\"axis-title\"")
        let yTitleX = 16.0, yTitleY = top + plotHeight / 2
        svg.text(yAxis.title, x: yTitleX, y: yTitleY, anchor: "middle",
                 extra: " class=\"axis-title\" transform=\"rotate(-90 \(n(yTitleX)) \(n(yTitleY)))\"")
        svg.raw("<g clip-path=\"url(#\(escape(clipIdentifier)))\">")
    }

    /// Closes the data group, draws the plot border and the legend.
    func drawForeground(_ svg: inout SVGWriter) {
        svg.raw("</g>")
        svg.rect(x: left, y: top, width: plotWidth, height: plotHeight, fill: "none", extra: " stroke=\"#333333\"")
        guard !legend.isEmpty else { return }
        svg.raw("<g class=\"legend\">")
        let legendX = left + plotWidth + 16
        for (index, entry) in legend.enumerated() {
            let rowY = top + 8 + Double(index) * 18
            svg.line(x1: legendX, y1: rowY, x2: legendX + 22, y2: rowY, stroke: entry.color, width: 3,
                     extra: entry.dashed ? " stroke-dasharray=\"5 3\"" : "")
            svg.text(entry.name, x: legendX + 28, y: rowY + 4)
        }
        svg.raw("</g>")
    }

    static func validate(size: ChartSize) throws(PlotError) {
        guard size.width.isFinite, size.height.isFinite, size.width >= 200, size.height >= 120 else {
            throw .invalidSize(width: size.width, height: size.height)
        }
    }

    static func validate(range: ClosedRange<Double>?, of axis: Axis) throws(PlotError) {
        guard let range else { return }
        let valid: Bool
        switch axis.scale {
        case .linear: valid = range.lowerBound < range.upperBound
        case .logarithmic: valid = range.lowerBound > 0 && range.lowerBound < range.upperBound
        case .percentile: valid = range.lowerBound >= 0 && range.upperBound < 100 && range.lowerBound < range.upperBound
        }
        guard valid, range.lowerBound.isFinite, range.upperBound.isFinite else {
            throw .invalidRange(axis: axis.label, lower: range.lowerBound, upper: range.upperBound)
        }
    }

    static func validate(windows: [ShadedWindow]) throws(PlotError) {
        for window in windows where !(window.start.isFinite && window.end.isFinite && window.start <= window.end) {
            throw .invalidWindow(label: window.label, start: window.start, end: window.end)
        }
    }

    /// Checks one value against an axis's scale.
    static func validate(_ value: Double, on axis: Axis, series: String, index: Int) throws(PlotError) {
        guard value.isFinite else { throw .nonFiniteValue(series: series, index: index, axis: axis.label) }
        switch axis.scale {
        case .linear: break
        case .logarithmic:
            if value <= 0 { throw .nonPositiveOnLogarithmicAxis(series: series, index: index, value: value, axis: axis.label) }
        case .percentile:
            if value < 0 || value >= 100 { throw .percentileOutOfRange(series: series, index: index, value: value, axis: axis.label) }
        }
    }

    /// A stable identifier for the clip path, so several charts can share one HTML page.
    static func identifier(_ parts: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
            hash ^= 0xff
        }
        return "plot-" + String(hash, radix: 16)
    }
}
