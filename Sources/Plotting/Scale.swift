// Axis scales: data value -> transformed value -> pixel, domain fitting and tick placement.

import Foundation

/// A tick: its data value and printed label.
struct Tick: Equatable {
    var value: Double
    var label: String
}

/// An axis resolved against data: a domain in transformed space and the ticks to draw.
struct ResolvedScale {
    let scale: AxisScale
    /// Domain ends in transformed space (log10 for logarithmic, -log10(1-p) for percentile).
    let low: Double
    let high: Double
    let ticks: [Tick]

    /// The transformed value of a data value (callers validated it for the scale).
    static func transform(_ value: Double, _ scale: AxisScale) -> Double {
        switch scale {
        case .linear: return value
        case .logarithmic: return log10(value)
        case .percentile: return -log10(1 - value / 100)
        }
    }

    /// The fraction 0...1 of the way along the axis (may fall outside for clipped values).
    func fraction(_ value: Double) -> Double {
        let t = Self.transform(value, scale)
        return high == low ? 0.5 : (t - low) / (high - low)
    }

    /// Fits a domain to data values (already validated) and places ticks.
    static func resolve(_ axis: Axis, values: [Double], targetTicks: Int) -> ResolvedScale {
        var lower: Double
        var upper: Double
        if let range = axis.range {
            lower = range.lowerBound
            upper = range.upperBound
        } else if let minimum = values.min(), let maximum = values.max() {
            lower = minimum
            upper = maximum
        } else {
            switch axis.scale {
            case .linear: (lower, upper) = (0, 1)
            case .logarithmic: (lower, upper) = (1, 10)
            case .percentile: (lower, upper) = (0, 99.9)
            }
        }
        switch axis.scale {
        case .linear:
            if axis.range == nil {
                if axis.includesZero { lower = Swift.min(lower, 0); upper = Swift.max(upper, 0) }
                if lower == upper { lower -= 1; upper += 1 }
                let step = niceStep((upper - lower) / Double(targetTicks))
                lower = (lower / step).rounded(.down) * step
                upper = (upper / step).rounded(.up) * step
            }
            let step = niceStep((upper - lower) / Double(targetTicks))
            var ticks: [Tick] = []
            var index = (lower / step - 1e-9).rounded(.up)
            while index * step <= upper + step * 1e-9, ticks.count < 100 {
                let value = index * step
                ticks.append(Tick(value: value, label: formatNumber(abs(value) < step * 1e-9 ? 0 : value, step: step)))
                index += 1
            }
            return ResolvedScale(scale: .linear, low: lower, high: upper, ticks: ticks)
        case .logarithmic:
            var lowDecade = log10(lower).rounded(.down)
            var highDecade = log10(upper).rounded(.up)
            if axis.range != nil {
                lowDecade = log10(lower)
                highDecade = log10(upper)
            } else if lowDecade == highDecade {
                highDecade += 1
            }
            var ticks: [Tick] = []
            let decades = highDecade.rounded(.down) - lowDecade.rounded(.up)
            // With few decades label 1, 2, 5 × 10^k too so the axis has enough reading points.
            let multipliers: [Double] = decades <= 2 ? [1, 2, 5] : [1]
            var exponent = lowDecade.rounded(.down)
            while exponent <= highDecade, ticks.count < 100 {
                for multiplier in multipliers {
                    let value = multiplier * pow(10, exponent)
                    let t = log10(value)
                    if t >= lowDecade - 1e-9, t <= highDecade + 1e-9 {
                        ticks.append(Tick(value: value, label: formatNumber(value, step: value)))
                    }
                }
                exponent += 1
            }
            return ResolvedScale(scale: .logarithmic, low: lowDecade, high: highDecade, ticks: ticks)
        case .percentile:
            // A spectrum fitted to data starts at the median's left, 0%, so the body shows beside the tail.
            let low = axis.range == nil ? 0 : transform(lower, .percentile)
            var high = transform(upper, .percentile)
            if axis.range == nil { high = Swift.max(1, high.rounded(.up)) }
            var ticks: [Tick] = []
            if low <= 0 { ticks.append(Tick(value: 0, label: "0%")) }
            var nines = 1.0
            while nines <= high + 1e-9, ticks.count < 20 {
                let p = 100 * (1 - pow(10, -nines))
                if nines >= low - 1e-9 { ticks.append(Tick(value: p, label: formatPercentile(p))) }
                nines += 1
            }
            return ResolvedScale(scale: .percentile, low: low, high: high, ticks: ticks)
        }
    }

    /// A step of 1, 2 or 5 × 10^k at or above `rough`.
    static func niceStep(_ rough: Double) -> Double {
        guard rough > 0, rough.isFinite else { return 1 }
        let magnitude = pow(10, log10(rough).rounded(.down))
        let residual = rough / magnitude
        let factor: Double = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10
        return factor * magnitude
    }
}

/// Prints a tick value with as many decimals as the tick step needs, using k/M/G for large numbers.
func formatNumber(_ value: Double, step: Double) -> String {
    let magnitude = abs(value)
    let suffixes: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
    for (scale, suffix) in suffixes where magnitude >= scale && abs(step) >= scale / 10 {
        return trimmed(value / scale, decimals: decimalsFor(step / scale)) + suffix
    }
    return trimmed(value, decimals: decimalsFor(step))
}

private func decimalsFor(_ step: Double) -> Int {
    guard step > 0, step.isFinite else { return 0 }
    return Swift.max(0, Swift.min(9, Int((-log10(step)).rounded(.up))))
}

private func trimmed(_ value: Double, decimals: Int) -> String {
    var text = String(format: "%.\(decimals)f", value)
    if text.contains(".") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text == "-0" ? "0" : text
}

/// "90%", "99%", "99.9%", "99.99%".
func formatPercentile(_ p: Double) -> String {
    trimmed(p, decimals: 6) + "%"
}
