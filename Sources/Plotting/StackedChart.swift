// Stacked areas or bars: parts of a whole over x (operations by kind per interval, outcomes per phase).

/// How a stacked chart draws its layers.
public enum StackStyle: Sendable, Equatable {
    /// Filled bands between consecutive cumulative sums.
    case areas
    /// A bar per x value, split into the layers.
    case bars
}

/// One layer of a stacked chart: a name and one value per x value.
public struct StackedLayer: Sendable, Equatable {
    /// The legend entry.
    public var name: String
    /// One value (>= 0) per x value of the chart.
    public var values: [Double]
    /// A CSS color; `nil` takes the next palette color.
    public var color: String?
    /// Creates a layer.
    public init(_ name: String, values: [Double], color: String? = nil) {
        self.name = name
        self.values = values
        self.color = color
    }
}

/// A chart of layers stacked on each other over shared x values.
public struct StackedChart: Sendable, Equatable {
    /// The heading printed above the plot.
    public var title: String
    /// The horizontal axis (linear or logarithmic).
    public var xAxis: Axis
    /// The vertical axis; stacks start at 0, so it is drawn linear.
    public var yAxis: Axis
    /// The x values, increasing.
    public var x: [Double]
    /// The layers, bottom first.
    public var layers: [StackedLayer]
    /// Areas or bars.
    public var style: StackStyle
    /// Shaded bands behind the data.
    public var windows: [ShadedWindow]
    /// The pixel size.
    public var size: ChartSize

    /// Creates a stacked chart.
    public init(title: String, xAxis: Axis, yAxis: Axis, x: [Double], layers: [StackedLayer], style: StackStyle = .areas,
                windows: [ShadedWindow] = [], size: ChartSize = .standard) {
        self.title = title
        self.xAxis = xAxis
        self.yAxis = yAxis
        self.x = x
        self.layers = layers
        self.style = style
        self.windows = windows
        self.size = size
    }

    /// Renders the chart as a standalone SVG document.
    /// - Throws: `PlotError` for layers of the wrong length, negative or non-finite values.
    public func svg() throws(PlotError) -> String {
        try PlotFrame.validate(size: size)
        try PlotFrame.validate(range: xAxis.range, of: xAxis)
        try PlotFrame.validate(windows: windows)
        var linearY = yAxis
        linearY.scale = .linear
        linearY.includesZero = true
        try PlotFrame.validate(range: linearY.range, of: linearY)
        for (index, value) in x.enumerated() {
            try PlotFrame.validate(value, on: xAxis, series: "x", index: index)
        }
        var cumulative = [[Double]]()
        var running = [Double](repeating: 0, count: x.count)
        for layer in layers {
            guard layer.values.count == x.count else {
                throw .layerLengthMismatch(layer: layer.name, expected: x.count, actual: layer.values.count)
            }
            for (index, value) in layer.values.enumerated() {
                try PlotFrame.validate(value, on: linearY, series: layer.name, index: index)
                if value < 0 { throw .negativeStackedValue(layer: layer.name, index: index, value: value) }
                running[index] += value
            }
            cumulative.append(running)
        }
        // Bars need half a bar of room on either side of the first and last x.
        let halfBar = barHalfWidth()
        var xs = x
        if style == .bars, let first = x.first, let last = x.last, xAxis.scale == .linear {
            xs.append(first - halfBar)
            xs.append(last + halfBar)
        }
        if xAxis.scale == .linear { for window in windows { xs.append(window.start); xs.append(window.end) } }
        let colors = layers.enumerated().map { $1.color ?? defaultPalette[$0 % defaultPalette.count] }
        let frame = PlotFrame(
            size: size, title: title, xAxis: xAxis, yAxis: linearY,
            x: ResolvedScale.resolve(xAxis, values: xs, targetTicks: Swift.max(2, Int(size.width / 90))),
            y: ResolvedScale.resolve(linearY, values: (cumulative.last ?? []) + [0], targetTicks: Swift.max(2, Int(size.height / 60))),
            legend: layers.enumerated().reversed().map { (name: $1.name, color: colors[$0], dashed: false) },
            clipIdentifier: PlotFrame.identifier([title, "stacked", xAxis.title, yAxis.title] + layers.map { "\($0.name)#\($0.values.count)" })
        )
        var svg = SVGWriter()
        svg.open(width: size.width, height: size.height, title: title)
        frame.drawBackground(&svg, windows: windows)
        for (layerIndex, layer) in layers.enumerated() where !x.isEmpty {
            let top = cumulative[layerIndex]
            let base = layerIndex == 0 ? [Double](repeating: 0, count: x.count) : cumulative[layerIndex - 1]
            let layerClass = " class=\"layer\" data-layer=\"\(escape(layer.name))\""
            switch style {
            case .areas:
                var d = "M\(n(frame.px(x[0]))) \(n(frame.py(top[0])))"
                for index in x.indices.dropFirst() { d += " L\(n(frame.px(x[index]))) \(n(frame.py(top[index])))" }
                for index in x.indices.reversed() { d += " L\(n(frame.px(x[index]))) \(n(frame.py(base[index])))" }
                d += " Z"
                svg.path(d, stroke: colors[layerIndex], fill: colors[layerIndex], width: 0.5, extra: " fill-opacity=\"0.75\"" + layerClass)
            case .bars:
                svg.raw("<g\(layerClass)>")
                let halfPixels = barHalfPixels(frame)
                for index in x.indices where layer.values[index] > 0 {
                    let left = frame.px(x[index]) - halfPixels
                    let right = frame.px(x[index]) + halfPixels
                    let yTop = frame.py(top[index])
                    svg.rect(x: left, y: yTop, width: right - left, height: frame.py(base[index]) - yTop, fill: colors[layerIndex])
                }
                svg.raw("</g>")
            }
        }
        frame.drawForeground(&svg)
        svg.close()
        return svg.text
    }

    /// Half of 80% of the smallest pixel gap between bars (a 24-pixel bar when there is one).
    private func barHalfPixels(_ frame: PlotFrame) -> Double {
        let positions = x.map { frame.px($0) }
        var gap = Double.infinity
        for index in positions.indices.dropFirst() where positions[index] - positions[index - 1] > 0 {
            gap = Swift.min(gap, positions[index] - positions[index - 1])
        }
        return gap.isFinite ? gap * 0.4 : 12
    }

    /// Half of 80% of the smallest gap between x values in data units (0.4 for a single bar).
    private func barHalfWidth() -> Double {
        guard x.count > 1 else { return 0.4 }
        var gap = Double.infinity
        for index in x.indices.dropFirst() where x[index] - x[index - 1] > 0 {
            gap = Swift.min(gap, x[index] - x[index - 1])
        }
        return gap.isFinite ? gap * 0.4 : 0.4
    }
}
