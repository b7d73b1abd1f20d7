// The values an operation carries: EDN's data model, small enough for every history format.

/// A value in a history: what was written, read, compared or returned.
///
/// It covers EDN's scalars and collections (Jepsen and Knossos histories are EDN) and maps onto
/// JSON for kvlab's own format. Vectors and lists are both `list`; a set keeps its elements
/// sorted by their printed form so equal sets compare equal.
public indirect enum Value: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    /// An EDN keyword, without its leading colon (`:x` is `.keyword("x")`).
    case keyword(String)
    case list([Value])
    case set([Value])
    /// A map as key/value pairs in source order.
    case map([Pair])

    /// One entry of a `map`.
    public struct Pair: Hashable, Sendable {
        public var key: Value
        public var value: Value
        public init(key: Value, value: Value) { self.key = key; self.value = value }
    }

    /// Whether this is `nil`/`null`.
    public var isNull: Bool { if case .null = self { true } else { false } }

    /// The integer, if this is one.
    public var integer: Int64? { if case .integer(let v) = self { v } else { nil } }

    /// The elements, if this is a list or a set.
    public var elements: [Value]? {
        switch self {
        case .list(let items), .set(let items): items
        default: nil
        }
    }

    /// A string or keyword's text, or an integer's digits; nil for other kinds.
    public var text: String? {
        switch self {
        case .string(let s), .keyword(let s): s
        case .integer(let i): String(i)
        default: nil
        }
    }

    /// The value of `key` in a map.
    public subscript(key: Value) -> Value? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.key == key }?.value
    }
}

extension Value: CustomStringConvertible {
    /// The value in EDN syntax (`nil`, `3`, `"a"`, `:x`, `[1 2]`, `#{1}`, `{:a 1}`).
    public var description: String {
        switch self {
        case .null: return "nil"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return ednQuoted(s)
        case .keyword(let k): return ":" + k
        case .list(let items): return "[" + items.map(\.description).joined(separator: " ") + "]"
        case .set(let items): return "#{" + items.map(\.description).joined(separator: " ") + "}"
        case .map(let pairs): return "{" + pairs.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "}"
        }
    }
}

func ednQuoted(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default: out.unicodeScalars.append(c)
        }
    }
    return out + "\""
}
