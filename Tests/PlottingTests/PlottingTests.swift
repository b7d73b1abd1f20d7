// Tests for the SVG charts: well-formed output, axes and ticks, scales, stacking, errors.

import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Plotting

/// A parsed SVG element: name, attributes and direct text.
struct Element {
    var name: String
    var attributes: [String: String]
    var text: String
}

/// Parses an SVG string with Foundation's XML parser; fails the test if it is not well-formed XML.
final class SVGParser: NSObject, XMLParserDelegate {
    var elements: [Element] = []
    private var stack: [Int] = []

    static func parse(_ svg: String) throws -> [Element] {
        let parser = XMLParser(data: Data(svg.utf8))
        let delegate = SVGParser()
        parser.delegate = delegate
        guard parser.parse() else {
            throw ParseFailure(message: parser.parserError.map { "\($0)" } ?? "unknown XML error")
        }
        return delegate.elements
    }

    struct ParseFailure: Error { var message: String }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append(Element(name: elementName, attributes: attributes, text: ""))
        stack.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let index = stack.last { elements[index].text += string }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        stack.removeLast()
    }
}

private func texts(_ elements: [Element]) -> [String] {
    elements.filter { $0.name == "text" }.map(\.text)
}

private func number(_ element: Element, _ attribute: String) -> Double {
    Double(element.attributes[attribute] ?? "") ?? .nan
}

@Suite("Plotting")
struct PlottingTests {
    @Test("a line chart renders well-formed SVG with a path and a legend entry per series")
    func lineChartStructure() throws {
        let chart = LineChart(
            title: "Throughput", xAxis: Axis("time", unit: "s"), yAxis: Axis("throughput", unit: "ops/s"),
            series: [
                Series("base", x: [0, 1, 2, 3], y: [100, 120, 110, 130]),
                Series("new", x: [0, 1, 2, 3], y: [90, 95, 100, 99], dashed: true),
            ])
        let elements = try SVGParser.parse(try chart.svg())
        #expect(elements.first?.name == "svg")
        let paths = elements.filter { $0.attributes["class"] == "series" }
        #expect(paths.map { $0.attributes["data-series"] } == ["base", "new"])
        #expect(paths[1].attributes["stroke-dasharray"] != nil)
        let labels = texts(elements)
        #expect(labels.contains("Throughput"))
        #expect(labels.contains("time (s)"))
        #expect(labels.contains("throughput (ops/s)"))
        #expect(labels.contains("base"))
        #expect(labels.contains("new"))
    }

    @Test("a linear axis fitted to data has round tick labels that cover the data and start at zero")
    func linearTicks() throws {
        let scale = ResolvedScale.resolve(Axis("y"), values: [3, 97], targetTicks: 5)
        #expect(scale.ticks.map(\.label) == ["0", "20", "40", "60", "80", "100"])
        #expect(scale.low == 0)
        #expect(scale.high == 100)
        let fractional = ResolvedScale.resolve(Axis("y", includesZero: false), values: [0.31, 0.78], targetTicks: 5)
        #expect(fractional.ticks.map(\.label) == ["0.3", "0.4", "0.5", "0.6", "0.7", "0.8"])
    }

    @Test("large tick values use k and M suffixes and small steps keep their decimals")
    func numberFormatting() {
        #expect(formatNumber(12_000, step: 2_000) == "12k")
        #expect(formatNumber(2_500_000, step: 500_000) == "2.5M")
        #expect(formatNumber(0.25, step: 0.05) == "0.25")
        #expect(formatNumber(-0.0, step: 1) == "0")
        #expect(formatNumber(1_500, step: 10) == "1500")
    }

    @Test("a logarithmic axis ticks powers of ten and places a value by its logarithm")
    func logarithmicAxis() throws {
        let chart = LineChart(
            title: "latency", xAxis: Axis("x", includesZero: false), yAxis: Axis("latency", unit: "µs", scale: .logarithmic),
            series: [Series("p", x: [1, 2, 3], y: [1, 10, 100], style: .markers)])
        let elements = try SVGParser.parse(try chart.svg())
        let yTicks = ResolvedScale.resolve(chart.yAxis, values: [1, 10, 100], targetTicks: 5)
        #expect(yTicks.ticks.map(\.label) == ["1", "2", "5", "10", "20", "50", "100"])
        let circles = elements.filter { $0.name == "circle" }
        #expect(circles.count == 3)
        let ys = circles.map { number($0, "cy") }
        // 10 is half way between 1 and 100 on a log axis.
        #expect(abs((ys[0] + ys[2]) / 2 - ys[1]) < 0.02)
        #expect(ys[0] > ys[2])
    }

    @Test("a percentile axis spaces 90, 99 and 99.9 evenly and labels them as percentiles")
    func percentileAxis() throws {
        let chart = LineChart(
            title: "spectrum", xAxis: Axis("percentile", scale: .percentile),
            yAxis: Axis("latency", unit: "µs", scale: .logarithmic),
            series: [Series("READ", x: [90, 99, 99.9], y: [5, 50, 500], style: .markers)])
        let elements = try SVGParser.parse(try chart.svg())
        let xs = elements.filter { $0.name == "circle" }.map { number($0, "cx") }
        #expect(abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 0.02)
        let labels = texts(elements)
        for expected in ["0%", "90%", "99%", "99.9%"] { #expect(labels.contains(expected)) }
    }

    @Test("a step series holds each value until the next point's x")
    func stepSeries() throws {
        let chart = LineChart(title: "p99", xAxis: Axis("t"), yAxis: Axis("v"),
                              series: [Series("p99", x: [0, 1, 2], y: [1, 3, 2], style: .step)])
        let elements = try SVGParser.parse(try chart.svg())
        let d = try #require(elements.first { $0.attributes["class"] == "series" }?.attributes["d"])
        #expect(d.hasPrefix("M"))
        #expect(d.components(separatedBy: " H").count == 3)
        #expect(d.components(separatedBy: " V").count == 3)
        #expect(!d.contains("L"))
    }

    @Test("a value at or below zero on a logarithmic axis is refused naming the series and point")
    func logarithmicRefusesZero() {
        let chart = LineChart(title: "t", xAxis: Axis("x"), yAxis: Axis("latency", scale: .logarithmic),
                              series: [Series("READ", x: [0, 1], y: [5, 0])])
        #expect(throws: PlotError.nonPositiveOnLogarithmicAxis(series: "READ", index: 1, value: 0, axis: "latency")) {
            try chart.svg()
        }
        let error = PlotError.nonPositiveOnLogarithmicAxis(series: "READ", index: 1, value: 0, axis: "latency")
        #expect(error.description.contains("READ"))
    }

    @Test("non-finite values, bad percentiles, bad ranges, windows and sizes are refused")
    func invalidInputs() {
        let nan = LineChart(title: "t", xAxis: Axis("x"), yAxis: Axis("y"), series: [Series("s", x: [.nan], y: [1])])
        #expect(throws: PlotError.nonFiniteValue(series: "s", index: 0, axis: "x")) { try nan.svg() }
        let percentile = LineChart(title: "t", xAxis: Axis("p", scale: .percentile), yAxis: Axis("y"),
                                   series: [Series("s", x: [100], y: [1])])
        #expect(throws: PlotError.percentileOutOfRange(series: "s", index: 0, value: 100, axis: "p")) { try percentile.svg() }
        let range = LineChart(title: "t", xAxis: Axis("x", range: 5...5), yAxis: Axis("y"))
        #expect(throws: PlotError.invalidRange(axis: "x", lower: 5, upper: 5)) { try range.svg() }
        let window = LineChart(title: "t", xAxis: Axis("x"), yAxis: Axis("y"), windows: [ShadedWindow(from: 3, to: 1, label: "kill")])
        #expect(throws: PlotError.invalidWindow(label: "kill", start: 3, end: 1)) { try window.svg() }
        let tiny = LineChart(title: "t", xAxis: Axis("x"), yAxis: Axis("y"), size: ChartSize(width: 10, height: 10))
        #expect(throws: PlotError.invalidSize(width: 10, height: 10)) { try tiny.svg() }
    }

    @Test("shaded windows span their x range behind the data and carry their label")
    func shadedWindows() throws {
        let chart = LineChart(title: "t", xAxis: Axis("time", unit: "s", range: 0...10), yAxis: Axis("y"),
                              series: [Series("s", x: [0, 10], y: [1, 1])],
                              windows: [ShadedWindow(from: 2, to: 4, label: "partition")])
        let svg = try chart.svg()
        let elements = try SVGParser.parse(svg)
        let band = try #require(elements.first { $0.attributes["class"] == "window" })
        #expect(texts(elements).contains("partition"))
        // The plot is 10 s wide; the band covers 2 s of it.
        let plot = try #require(elements.last { $0.name == "rect" && $0.attributes["fill"] == "none" })
        let ratio = number(band, "width") / number(plot, "width")
        #expect(abs(ratio - 0.2) < 0.001)
        // Drawn before (behind) the series.
        let bandOffset = try #require(svg.range(of: "class=\"window\""))
        let seriesOffset = try #require(svg.range(of: "class=\"series\""))
        #expect(bandOffset.lowerBound < seriesOffset.lowerBound)
    }

    @Test("stacked areas put each layer on top of the ones below")
    func stackedAreas() throws {
        let chart = StackedChart(title: "ops", xAxis: Axis("t"), yAxis: Axis("ops"), x: [0, 1, 2],
                                 layers: [StackedLayer("READ", values: [10, 10, 10]), StackedLayer("UPDATE", values: [10, 20, 30])])
        let elements = try SVGParser.parse(try chart.svg())
        let layers = elements.filter { $0.attributes["class"] == "layer" }
        #expect(layers.map { $0.attributes["data-layer"] } == ["READ", "UPDATE"])
        // The y axis fits the tallest stack (40), not the tallest layer (30).
        let scale = ResolvedScale.resolve(Axis("ops"), values: [0, 20, 30, 40], targetTicks: 5)
        #expect(scale.high >= 40)
        let labels = texts(elements)
        #expect(labels.contains("40"))
        // The legend lists the top layer first, as stacked.
        let readIndex = try #require(labels.firstIndex(of: "READ"))
        let updateIndex = try #require(labels.firstIndex(of: "UPDATE"))
        #expect(updateIndex < readIndex)
    }

    @Test("stacked bars draw one rectangle per nonzero value, each standing on the layer below")
    func stackedBars() throws {
        let chart = StackedChart(title: "outcomes", xAxis: Axis("phase"), yAxis: Axis("count"), x: [1, 2],
                                 layers: [StackedLayer("ok", values: [3, 4]), StackedLayer("error", values: [1, 0])], style: .bars)
        let elements = try SVGParser.parse(try chart.svg())
        var bars: [Element] = []
        var inLayer = false
        for element in elements {
            if element.attributes["class"] == "layer" { inLayer = true; continue }
            if inLayer, element.name == "rect", element.attributes["fill"] != "none" { bars.append(element) }
        }
        #expect(bars.count == 3)
        // The error bar at x = 1 sits on the ok bar at x = 1.
        let okTop = number(bars[0], "y")
        let errorBottom = number(bars[2], "y") + number(bars[2], "height")
        #expect(abs(okTop - errorBottom) < 0.02)
    }

    @Test("stacked layers of the wrong length or with negative values are refused")
    func stackedRefusals() {
        let short = StackedChart(title: "t", xAxis: Axis("x"), yAxis: Axis("y"), x: [1, 2], layers: [StackedLayer("a", values: [1])])
        #expect(throws: PlotError.layerLengthMismatch(layer: "a", expected: 2, actual: 1)) { try short.svg() }
        let negative = StackedChart(title: "t", xAxis: Axis("x"), yAxis: Axis("y"), x: [1], layers: [StackedLayer("a", values: [-1])])
        #expect(throws: PlotError.negativeStackedValue(layer: "a", index: 0, value: -1)) { try negative.svg() }
    }

    @Test("titles and names with markup characters are escaped")
    func escaping() throws {
        let chart = LineChart(title: "a < b & \"c\"", xAxis: Axis("x"), yAxis: Axis("y"),
                              series: [Series("<script>", x: [0, 1], y: [0, 1])])
        let svg = try chart.svg()
        #expect(!svg.contains("<script>"))
        let elements = try SVGParser.parse(svg)
        #expect(texts(elements).contains("a < b & \"c\""))
        #expect(texts(elements).contains("<script>"))
    }

    @Test("rendering is deterministic and different charts get different clip identifiers")
    func determinism() throws {
        let a = LineChart(title: "A", xAxis: Axis("x"), yAxis: Axis("y"), series: [Series("s", x: [0, 1], y: [0, 1])])
        var b = a
        b.title = "B"
        #expect(try a.svg() == a.svg())
        let clip = { (svg: String) -> String? in
            try? SVGParser.parse(svg).first { $0.name == "clipPath" }?.attributes["id"]
        }
        #expect(clip(try a.svg()) != nil)
        #expect(clip(try a.svg()) != clip(try b.svg()))
    }

    @Test("an empty chart still renders its axes")
    func emptyChart() throws {
        let elements = try SVGParser.parse(try LineChart(title: "none", xAxis: Axis("x", unit: "s"), yAxis: Axis("y")).svg())
        #expect(texts(elements).contains("x (s)"))
        #expect(elements.filter { $0.attributes["class"] == "series" }.isEmpty)
    }
}
