// Plotting: small, dependency-free SVG charts (lines, steps, stacked areas/bars) for kvlab's reports.
//
// Why a module of its own: several reports (the regression gate's HTML page, chaos experiment
// timelines, consistent-hashing ring plots) need the same few chart kinds, and a standalone SVG
// string embeds both in a self-contained HTML page and in a markdown file without any JavaScript,
// web font or network fetch. Rendering is a pure function of the chart value: the same chart gives
// the same bytes, which keeps reports diffable and testable.
//
// The surface is three value types — `Axis`, `Series` and a chart (`LineChart`, `StackedChart`) —
// plus `ShadedWindow` for time ranges such as a fault being active. Invalid data (NaN, a value at or
// below zero on a logarithmic axis, layers of unequal length) is reported as a `PlotError` naming
// the series and the index, never silently dropped.

/// How an axis maps data values to positions.
public enum AxisScale: Sendable, Equatable {
    /// Positions proportional to values.
    case linear
    /// Positions proportional to `log10(value)`; every value must be greater than zero.
    case logarithmic
    /// Values are percentiles in `[0, 100)`, placed at `log10(1 / (1 - p/100))` so that 90, 99,
    /// 99.9, 99.99 are equally spaced — the usual latency "percentile spectrum" axis of HdrHistogram.
    case percentile
}

/// One axis of a chart: its label, unit, scale and optional fixed range.
public struct Axis: Sendable, Equatable {
    /// What the axis measures, e.g. "throughput".
    public var label: String
    /// The unit printed after the label in parentheses, e.g. "ops/s" or "µs"; empty for none.
    public var unit: String
    /// How values map to positions.
    public var scale: AxisScale
    /// A fixed range; `nil` fits the data (with "nice" rounded ends on linear axes).
    public var range: ClosedRange<Double>?
    /// On a linear axis fitted to data, whether 0 is always inside the range (true for amounts
    /// such as throughput, where a bar or line starting at a nonzero floor would mislead).
    public var includesZero: Bool

    /// Creates an axis.
    /// - Parameters:
    ///   - label: what the axis measures.
    ///   - unit: the unit shown as "label (unit)"; empty for none.
    ///   - scale: linear, logarithmic or percentile.
    ///   - range: a fixed range, or `nil` to fit the data.
    ///   - includesZero: on linear axes fitted to data, keep 0 in range.
    public init(_ label: String, unit: String = "", scale: AxisScale = .linear,
                range: ClosedRange<Double>? = nil, includesZero: Bool = true) {
        self.label = label
        self.unit = unit
        self.scale = scale
        self.range = range
        self.includesZero = includesZero
    }

    /// The axis title as printed: "label (unit)" or just "label".
    public var title: String { unit.isEmpty ? label : "\(label) (\(unit))" }
}

/// A point of a series in data coordinates.
public struct DataPoint: Sendable, Equatable {
    /// The horizontal value.
    public var x: Double
    /// The vertical value.
    public var y: Double
    /// Creates a point.
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// How a series is drawn.
public enum SeriesStyle: Sendable, Equatable {
    /// Straight segments between consecutive points.
    case line
    /// A step function: each value holds until the next point's x (per-interval measurements).
    case step
    /// A marker at each point and no connecting line.
    case markers
    /// Straight segments plus a marker at each point (few points, e.g. a saturation curve).
    case lineWithMarkers
}

/// A named sequence of points drawn in one color.
public struct Series: Sendable, Equatable {
    /// The legend entry.
    public var name: String
    /// The points, in drawing order (normally increasing x).
    public var points: [DataPoint]
    /// How the series is drawn.
    public var style: SeriesStyle
    /// A CSS color; `nil` takes the next color of the built-in palette.
    public var color: String?
    /// Draw the line dashed (e.g. a baseline next to a candidate).
    public var dashed: Bool

    /// Creates a series.
    public init(_ name: String, points: [DataPoint], style: SeriesStyle = .line, color: String? = nil, dashed: Bool = false) {
        self.name = name
        self.points = points
        self.style = style
        self.color = color
        self.dashed = dashed
    }

    /// Creates a series from parallel arrays of x and y values (the shorter one sets the length).
    public init(_ name: String, x: [Double], y: [Double], style: SeriesStyle = .line, color: String? = nil, dashed: Bool = false) {
        self.init(name, points: zip(x, y).map { DataPoint(x: $0, y: $1) }, style: style, color: color, dashed: dashed)
    }
}

/// A shaded band across the plot between two x values, e.g. while a fault was injected.
public struct ShadedWindow: Sendable, Equatable {
    /// Where the band starts (data x).
    public var start: Double
    /// Where the band ends (data x); must not be before `start`.
    public var end: Double
    /// A short caption printed at the top of the band; empty for none.
    public var label: String
    /// A CSS color for the band (drawn translucent).
    public var color: String

    /// Creates a shaded window.
    public init(from start: Double, to end: Double, label: String = "", color: String = "#d62728") {
        self.start = start
        self.end = end
        self.label = label
        self.color = color
    }
}

/// The pixel size of a chart.
public struct ChartSize: Sendable, Equatable {
    /// Width in pixels.
    public var width: Double
    /// Height in pixels.
    public var height: Double
    /// Creates a size.
    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }
    /// 720 × 360, a chart that fits a report column.
    public static let standard = ChartSize(width: 720, height: 360)
}

/// Why a chart could not be rendered.
public enum PlotError: Error, Equatable, CustomStringConvertible {
    /// A value is NaN or infinite.
    case nonFiniteValue(series: String, index: Int, axis: String)
    /// A value at or below zero on a logarithmic axis.
    case nonPositiveOnLogarithmicAxis(series: String, index: Int, value: Double, axis: String)
    /// A percentile outside `[0, 100)` on a percentile axis.
    case percentileOutOfRange(series: String, index: Int, value: Double, axis: String)
    /// A stacked layer whose length differs from the x values.
    case layerLengthMismatch(layer: String, expected: Int, actual: Int)
    /// A negative value in a stacked layer (stacks add amounts).
    case negativeStackedValue(layer: String, index: Int, value: Double)
    /// A fixed axis range that is empty, not finite, or invalid for the scale.
    case invalidRange(axis: String, lower: Double, upper: Double)
    /// A shaded window whose end is before its start, or not finite.
    case invalidWindow(label: String, start: Double, end: Double)
    /// A chart size too small to hold axes and a plot.
    case invalidSize(width: Double, height: Double)

    public var description: String {
        switch self {
        case let .nonFiniteValue(series, index, axis):
            return "series \"\(series)\" point \(index): \(axis) value is not a finite number"
        case let .nonPositiveOnLogarithmicAxis(series, index, value, axis):
            return "series \"\(series)\" point \(index): \(axis) value \(value) cannot be shown on a logarithmic axis (expected > 0)"
        case let .percentileOutOfRange(series, index, value, axis):
            return "series \"\(series)\" point \(index): \(axis) value \(value) is not a percentile in [0, 100)"
        case let .layerLengthMismatch(layer, expected, actual):
            return "stacked layer \"\(layer)\" has \(actual) values, expected \(expected) (one per x value)"
        case let .negativeStackedValue(layer, index, value):
            return "stacked layer \"\(layer)\" value \(index) is \(value); stacked values must be >= 0"
        case let .invalidRange(axis, lower, upper):
            return "axis \"\(axis)\": range \(lower)...\(upper) is empty, not finite or not valid for its scale"
        case let .invalidWindow(label, start, end):
            return "shaded window \"\(label)\": \(start)...\(end) is not a finite range with start <= end"
        case let .invalidSize(width, height):
            return "chart size \(width)x\(height) is too small (expected at least 200x120)"
        }
    }
}

/// The default series colors (Tableau 10): distinct, and readable for the common color-vision deficiencies.
public let defaultPalette: [String] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]
