// Engine options as given on the command line (`--option name=value`), with typed accessors.

/// Named string options for opening an engine, read through typed accessors that report
/// the option and the expected form on a bad value.
public struct EngineOptions: Sendable, Hashable {
    public var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    /// Parses `name=value` strings, as given to `--option`.
    /// - Throws: `EngineError.invalidOption` for an item without `=`.
    public init(parsing items: [String], engine: String) throws(EngineError) {
        var values: [String: String] = [:]
        for item in items {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw .invalidOption(engine: engine, option: item, value: "", expected: "name=value")
            }
            values[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        self.values = values
    }

    public subscript(name: String) -> String? {
        get { values[name] }
        set { values[name] = newValue }
    }

    /// An integer option; accepts size suffixes K, M, G (powers of 1024) and KiB/MiB/GiB, KB/MB/GB.
    public func integer(_ name: String, engine: String, default defaultValue: Int, range: ClosedRange<Int> = 0...Int.max) throws(EngineError) -> Int {
        guard let text = values[name] else { return defaultValue }
        guard let value = Self.parseSize(text), range.contains(value) else {
            throw .invalidOption(engine: engine, option: name, value: text,
                                 expected: "an integer in \(range.lowerBound)...\(range.upperBound) (suffixes K, M, G allowed)")
        }
        return value
    }

    /// A boolean option: true/false, yes/no, on/off, 1/0.
    public func boolean(_ name: String, engine: String, default defaultValue: Bool) throws(EngineError) -> Bool {
        guard let text = values[name] else { return defaultValue }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw .invalidOption(engine: engine, option: name, value: text, expected: "true or false")
        }
    }

    /// A string option.
    public func string(_ name: String, default defaultValue: String? = nil) -> String? {
        values[name] ?? defaultValue
    }

    static func parseSize(_ text: String) -> Int? {
        let lower = text.lowercased()
        let units: [(String, Int)] = [("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30),
                                      ("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30),
                                      ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30)]
        for (suffix, multiplier) in units where lower.hasSuffix(suffix) {
            guard let n = Int(lower.dropLast(suffix.count)) else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
            return overflow ? nil : product
        }
        return Int(lower)
    }
}
