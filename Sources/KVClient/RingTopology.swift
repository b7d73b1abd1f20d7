// The ring:// URL's options, and the topology file through which a running ring changes its nodes.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The query of a `ring://` URL:
///
///     ring://[:password@]host:port,host:port,...[?router=ring|jump|rendezvous|slots]
///         [&hash=xxh64|murmur3|fnv1a][&vnodes=160][&weights=1,1,2][&topology=/path/to/file]
///
/// Defaults: `router=ring`, `hash=xxh64`, `vnodes=160`, weights 1. `topology=FILE` makes every
/// client re-read FILE (a `RingTopology`) every `pollSeconds` (0.05 s) and route by it once it
/// exists, so a ring can grow while a workload runs (`kvlab reshard` writes it).
public struct ShardTargetOptions: Sendable, Hashable {
    public var router: RouterOptions
    public var weights: [Double]?
    public var topologyFile: String?
    public var pollSeconds: Double = 0.05

    public init(router: RouterOptions = RouterOptions(), weights: [Double]? = nil, topologyFile: String? = nil) {
        self.router = router
        self.weights = weights
        self.topologyFile = topologyFile
    }

    /// Parses the query part of a ring URL (after `?`).
    /// - Throws: `RESPClientError.invalidURL` naming the option and what it expects.
    public init(query: Substring, url: String) throws(RESPClientError) {
        router = RouterOptions()
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw .invalidURL(url, reason: "option '\(pair)': expected name=value") }
            let (name, value) = (parts[0], parts[1])
            switch name {
            case "router":
                guard let k = RouterKind(rawValue: value) else {
                    throw .invalidURL(url, reason: "router=\(value): expected one of \(RouterKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                router.kind = k
            case "hash":
                guard let h = KeyHashFunction(rawValue: value) else {
                    throw .invalidURL(url, reason: "hash=\(value): expected one of \(KeyHashFunction.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                router.hash = h
            case "vnodes":
                guard let v = Int(value), (1...65536).contains(v) else { throw .invalidURL(url, reason: "vnodes=\(value): expected an integer in 1...65536") }
                router.virtualNodes = v
            case "weights":
                var list: [Double] = []
                for w in value.split(separator: ",", omittingEmptySubsequences: false) {
                    guard let d = Double(w), d.isFinite, d > 0 else { throw .invalidURL(url, reason: "weights=\(value): '\(w)' is not a number > 0") }
                    list.append(d)
                }
                weights = list
            case "topology":
                guard !value.isEmpty else { throw .invalidURL(url, reason: "topology=: expected a file path") }
                topologyFile = value
            default:
                throw .invalidURL(url, reason: "unknown option '\(name)': expected router, hash, vnodes, weights or topology")
            }
        }
    }
}

/// Which node list reads and writes follow while a ring changes.
public enum RingPhase: String, Sendable, CaseIterable {
    /// Every key goes to its owner in `nodes`.
    case stable
    /// Moving: reads go to the owner in `previous`; writes go to it and, when different, to the
    /// owner in `nodes` too, so the new owner misses no write while old data is copied over.
    case migrating
    /// Copied: reads go to the owner in `nodes`; writes still go to both owners, so clients
    /// that have not yet seen this phase (and still read the old owner) read every write.
    case switching
}

/// The state of a ring that can change under load, as a small text file:
///
///     # kvlab ring topology
///     epoch 2
///     phase migrating
///     nodes 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004
///     previous 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
///
/// `previous` is required in `migrating` and `switching`. The router options stay those of the
/// URL. The writer replaces the file atomically (write a temporary file, rename it), so a reader
/// sees the old or the new state, never half of one.
public struct RingTopology: Sendable, Equatable {
    public var epoch: Int
    public var phase: RingPhase
    public var nodes: [String]
    public var previous: [String]?

    public init(epoch: Int, phase: RingPhase, nodes: [String], previous: [String]? = nil) {
        self.epoch = epoch
        self.phase = phase
        self.nodes = nodes
        self.previous = previous
    }

    /// The file's text.
    public var text: String {
        var s = "# kvlab ring topology\nepoch \(epoch)\nphase \(phase.rawValue)\nnodes \(nodes.joined(separator: ","))\n"
        if let previous { s += "previous \(previous.joined(separator: ","))\n" }
        return s
    }

    /// Parses the file's text.
    /// - Throws: `RingTopologyError` naming the file, the line and what was expected.
    public init(text: String, file: String) throws(RingTopologyError) {
        var epoch: Int?
        var phase: RingPhase?
        var nodes: [String]?
        var previous: [String]?
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: " ", maxSplits: 1).map { String($0).trimmingWhitespace }
            let value = parts.count == 2 ? parts[1] : ""
            switch parts[0] {
            case "epoch":
                guard let e = Int(value), e >= 0 else { throw .malformed(file: file, line: n + 1, "epoch '\(value)': expected an integer >= 0") }
                epoch = e
            case "phase":
                guard let p = RingPhase(rawValue: value) else { throw .malformed(file: file, line: n + 1, "phase '\(value)': expected stable, migrating or switching") }
                phase = p
            case "nodes", "previous":
                let list = value.split(separator: ",").map { String($0).trimmingWhitespace }
                guard !list.isEmpty, list.allSatisfy({ $0.contains(":") }) else {
                    throw .malformed(file: file, line: n + 1, "\(parts[0]) '\(value)': expected host:port,host:port...")
                }
                if parts[0] == "nodes" { nodes = list } else { previous = list }
            default:
                throw .malformed(file: file, line: n + 1, "unknown field '\(parts[0])': expected epoch, phase, nodes or previous")
            }
        }
        guard let epoch else { throw .malformed(file: file, line: 0, "no 'epoch' line") }
        guard let phase else { throw .malformed(file: file, line: 0, "no 'phase' line") }
        guard let nodes else { throw .malformed(file: file, line: 0, "no 'nodes' line") }
        if phase != .stable && previous == nil { throw .malformed(file: file, line: 0, "phase \(phase.rawValue) needs a 'previous' line") }
        self.init(epoch: epoch, phase: phase, nodes: nodes, previous: previous)
    }

    /// Reads `path`; nil if it does not exist.
    /// - Throws: `RingTopologyError` if it cannot be read or parsed.
    public static func read(path: String) throws(RingTopologyError) -> RingTopology? {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .io(file: path, String(cString: strerror(errno)))
        }
        defer { _ = Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n < 0 { throw .io(file: path, String(cString: strerror(errno))) }
            if n == 0 { break }
            bytes += chunk[0..<n]
            guard bytes.count <= 1 << 20 else { throw .malformed(file: path, line: 0, "larger than 1 MiB: expected a small text file") }
        }
        return try RingTopology(text: String(decoding: bytes, as: UTF8.self), file: path)
    }

    /// Writes to `path` atomically (a temporary file renamed over it).
    /// - Throws: `RingTopologyError.io`.
    public func write(path: String) throws(RingTopologyError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw .io(file: temporary, String(cString: strerror(errno))) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        _ = Glibc.close(fd)
        guard written == bytes.count else { throw .io(file: temporary, "short write") }
        guard rename(temporary, path) == 0 else { throw .io(file: path, String(cString: strerror(errno))) }
    }
}

/// Why a ring topology file could not be used.
public enum RingTopologyError: Error, Sendable, Equatable, CustomStringConvertible {
    case io(file: String, String)
    case malformed(file: String, line: Int, String)

    public var description: String {
        switch self {
        case let .io(file, message): "ring topology \(file): \(message)"
        case let .malformed(file, line, message): "ring topology \(file)\(line > 0 ? ":\(line)" : ""): \(message)"
        }
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
