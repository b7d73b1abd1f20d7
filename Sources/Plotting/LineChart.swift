// Line, step and marker charts of several series, with linear, logarithmic or percentile axes.

/// A chart of one or more series against shared axes: throughput over time, latency percentiles
/// over time (step), a percentile spectrum (percentile x axis, logarithmic y axis), a curve.
public struct LineChart: Sendable, Equatable {
    /// The heading printed above the plot.
    public var title: String
    /// The horizontal axis.
    public var xAxis: Axis
    /// The vertical axis.
    public var yAxis: Axis
    /// The series, drawn in order (later ones on top).
    public var series: [Series]
    /// Shaded bands behind the data.
    public var windows: [ShadedWindow]
    /// The pixel size.
    public var size: ChartSize

    /// Creates a line chart.
    public init(title: String, xAxis: Axis, yAxis: Axis, series: [Series] = [], windows: [ShadedWindow] = [], size: ChartSize = .standard) {
        self.title = title
        self.xAxis = xAxis
        self.yAxis = yAxis
        self.series = series
        self.windows = windows
        self.size = size
    }

    /// Renders the chart as a standalone SVG document (also valid inline in HTML).
    /// - Returns: the SVG text.
    /// - Throws: `PlotError` naming the series and point of any value the axes cannot show.
    public func svg() throws(PlotError) -> String {
        try PlotFrame.validate(size: size)
        try PlotFrame.validate(range: xAxis.range, of: xAxis)
        try PlotFrame.validate(range: yAxis.range, of: yAxis)
        try PlotFrame.validate(windows: windows)
        var xs: [Double] = []
        var ys: [Double] = []
        for entry in series {
            for (index, point) in entry.points.enumerated() {
                try PlotFrame.validate(point.x, on: xAxis, series: entry.name, index: index)
                try PlotFrame.validate(point.y, on: yAxis, series: entry.name, index: index)
                xs.append(point.x)
                ys.append(point.y)
            }
        }
        if xAxis.scale == .linear {
            for window in windows { xs.append(window.start); xs.append(window.end) }
        }
        let colors = series.enumerated().map { $1.color ?? defaultPalette[$0 % defaultPalette.count] }
        let frame = PlotFrame(
            size: size, title: title, xAxis: xAxis, yAxis: yAxis,
            x: ResolvedScale.resolve(xAxis, values: xs, targetTicks: Swift.max(2, Int(size.width / 90))),
            y: ResolvedScale.resolve(yAxis, values: ys, targetTicks: Swift.max(2, Int(size.height / 60))),
            legend: series.enumerated().map { (name: $1.name, color: colors[$0], dashed: $1.dashed) },
            clipIdentifier: PlotFrame.identifier([title, xAxis.title, yAxis.title] + series.map { "\($0.name)#\($0.points.count)" })
        )
        var svg = SVGWriter()
        svg.open(width: size.width, height: size.height, title: title)
        frame.drawBackground(&svg, windows: windows)
        for (index, entry) in series.enumerated() where !entry.points.isEmpty {
            let color = colors[index]
            let dash = entry.dashed ? " stroke-dasharray=\"6 4\"" : ""
            let seriesClass = " class=\"series\" data-series=\"\(escape(entry.name))\""
            switch entry.style {
            case .line, .lineWithMarkers:
                var d = ""
                for (pointIndex, point) in entry.points.enumerated() {
                    d += (pointIndex == 0 ? "M" : " L") + "\(n(frame.px(point.x))) \(n(frame.py(point.y)))"
                }
                svg.path(d, stroke: color, extra: dash + seriesClass)
            case .step:
                var d = ""
                for (pointIndex, point) in entry.points.enumerated() {
                    if pointIndex == 0 {
                        d = "M\(n(frame.px(point.x))) \(n(frame.py(point.y)))"
                    } else {
                        d += " H\(n(frame.px(point.x))) V\(n(frame.py(point.y)))"
                    }
                }
                svg.path(d, stroke: color, extra: dash + seriesClass)
            case .markers:
                break
            }
            if entry.style == .markers || entry.style == .lineWithMarkers {
                for point in entry.points {
                    svg.circle(cx: frame.px(point.x), cy: frame.py(point.y), r: 3, fill: color)
                }
            }
        }
        frame.drawForeground(&svg)
        svg.close()
        return svg.text
    }
}
