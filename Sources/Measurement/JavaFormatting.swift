// Number formatting that reproduces Java's, so kvlab's output matches YCSB's byte for byte.

import Foundation

/// Java's number formatting as YCSB's output uses it.
public enum JavaFormatting {
    /// Formats like Java's `Double.toString`: shortest round-trip digits; plain notation with at least one
    /// fractional digit for 10^-3 ≤ |x| < 10^7 (`1234.5`, `0.0`, `100.0`), otherwise computerised
    /// scientific notation (`1.0E7`, `1.2345E-4`); `NaN`, `Infinity`, `-Infinity`.
    public static func doubleToString(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        let sign = value.sign == .minus ? "-" : ""
        let magnitude = Swift.abs(value)
        if magnitude == 0 { return sign + "0.0" }
        let (digits, exponent) = shortestDigits(magnitude)
        if magnitude >= 1e-3 && magnitude < 1e7 {
            if exponent >= 0 {
                let integerCount = exponent + 1
                let integerPart = digits.count >= integerCount
                    ? String(digits.prefix(integerCount))
                    : digits + String(repeating: "0", count: integerCount - digits.count)
                let fraction = digits.count > integerCount ? String(digits.dropFirst(integerCount)) : "0"
                return sign + integerPart + "." + fraction
            }
            return sign + "0." + String(repeating: "0", count: -exponent - 1) + digits
        }
        let fraction = digits.count > 1 ? String(digits.dropFirst()) : "0"
        return sign + String(digits.prefix(1)) + "." + fraction + "E" + String(exponent)
    }

    /// The shortest decimal digits that round-trip `value` (> 0), without leading or trailing zeros,
    /// and the decimal exponent of the first digit: value = d.ddd × 10^exponent.
    static func shortestDigits(_ value: Double) -> (digits: String, exponent: Int) {
        // Swift's description is also shortest round-trip; only its layout differs from Java's.
        let text = value.description
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...].replacingOccurrences(of: "+", with: ""))!
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let integerPart = String(parts[0])
        let fractionPart = parts.count > 1 ? String(parts[1]) : ""
        var all = integerPart + fractionPart
        // Position of the decimal point after the integer digits.
        var pointPosition = integerPart.count
        while all.first == "0" { all.removeFirst(); pointPosition -= 1 }
        while all.last == "0" { all.removeLast() }
        if all.isEmpty { return ("0", 0) }
        return (all, pointPosition - 1 + exponent)
    }

    /// Formats like Java's `new DecimalFormat("#.##").format(x)` (YCSB's status lines): at most two
    /// fractional digits, half-even rounding, no trailing zeros, no grouping, and no leading zero
    /// before the point (`0.5` → `.5`, `0` → `0`).
    public static func decimalFormatTwoPlaces(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-∞" : "∞" }
        let hundredths = (Swift.abs(value) * 100).rounded(.toNearestOrEven)
        if hundredths == 0 { return value.sign == .minus ? "-0" : "0" }
        let sign = value < 0 ? "-" : ""
        let whole = (hundredths / 100).rounded(.towardZero)
        let cents = Int(hundredths - whole * 100)
        var text = whole == 0 ? "" : String(format: "%.0f", whole)
        if cents != 0 {
            var fraction = cents < 10 ? "0\(cents)" : "\(cents)"
            if fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return sign + text
    }

    /// YCSB's name for a percentile in `<p>PercentileLatency(us)`: a whole number as an English ordinal
    /// (`1st`, `2nd`, `3rd`, `11th`, `12th`, `13th`, `21st`, `50th`), otherwise Java's `Double.toString` (`99.9`).
    public static func percentileOrdinal(_ percentile: Double) -> String {
        guard percentile.rounded(.towardZero) == percentile, Swift.abs(percentile) < 1e15 else {
            return doubleToString(percentile)
        }
        let whole = Int(percentile)
        switch whole % 100 {
        case 11, 12, 13: return "\(whole)th"
        default:
            let suffixes = ["th", "st", "nd", "rd", "th", "th", "th", "th", "th", "th"]
            return "\(whole)\(suffixes[Swift.abs(whole % 10)])"
        }
    }
}
