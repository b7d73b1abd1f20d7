// The generators for field lengths and scan lengths, chosen by property.

import KVCore

/// `fieldlengthdistribution`: constant, uniform or zipfian over [minfieldlength, fieldlength],
/// or a histogram file.
public enum FieldLengthGenerator: Sendable {
    case constant(Int64)
    case uniform(UniformGenerator)
    case zipfian(ZipfianGenerator)
    case histogram(HistogramGenerator)

    /// The largest length it can yield (sizes the value buffers).
    public var maximum: Int64 {
        switch self {
        case .constant(let n): n
        case .uniform(let g): g.min + Int64(g.range) - 1
        case .zipfian(let g): g.base + g.items - 1
        case .histogram(let g): g.maximum
        }
    }

    /// A length.
    @inline(__always)
    public mutating func next(using rng: inout SeededRandom) -> Int64 {
        switch self {
        case .constant(let n):
            return n
        case .uniform(var g):
            let v = g.next(using: &rng)
            self = .uniform(g)
            return v
        case .zipfian(var g):
            let v = g.next(using: &rng)
            self = .zipfian(g)
            return v
        case .histogram(var g):
            let v = g.next(using: &rng)
            self = .histogram(g)
            return v
        }
    }
}

/// `scanlengthdistribution`: uniform or zipfian over [minscanlength, maxscanlength].
public enum ScanLengthGenerator: Sendable {
    case uniform(UniformGenerator)
    case zipfian(ZipfianGenerator)

    /// A scan length.
    public mutating func next(using rng: inout SeededRandom) -> Int64 {
        switch self {
        case .uniform(var g):
            let v = g.next(using: &rng)
            self = .uniform(g)
            return v
        case .zipfian(var g):
            let v = g.next(using: &rng)
            self = .zipfian(g)
            return v
        }
    }
}
