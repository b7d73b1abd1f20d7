// Reads callgrind's output format: inclusive instruction counts of named functions, calls to allocators.

import Foundation

/// What counting mode needs from one callgrind output file.
public struct CallgrindProfile: Sendable, Equatable {
    /// Inclusive `Ir` (instructions executed) of each function asked for, by name.
    public var inclusiveInstructions: [String: UInt64]
    /// Calls to the C allocation functions (malloc, calloc, realloc, posix_memalign, aligned_alloc,
    /// memalign) recorded while collection was on.
    public var allocationCalls: UInt64
    /// The file's `totals:` (or `summary:`) instruction count.
    public var totalInstructions: UInt64

    /// Functions whose calls count as allocations.
    public static let allocationFunctions: Set<String> = ["malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign"]

    /// Parses callgrind output (format of valgrind 3.x, one event `Ir` first).
    /// - Parameters:
    ///   - text: the file's contents.
    ///   - functions: names whose inclusive cost to report (functions never seen report 0).
    ///   - file: the file name, for errors.
    /// - Throws: `CountingError.malformedProfile` naming the file and line.
    public static func parse(_ text: String, functions: Set<String>, file: String) throws(CountingError) -> CallgrindProfile {
        var names: [String: String] = [:]           // compressed "(id)" -> name
        var currentFunction = ""
        var calledFunction = ""
        var expectCallCost = false
        var inclusive: [String: UInt64] = [:]
        var allocations: UInt64 = 0
        var totals: UInt64?
        var sawEvents = false
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            func name(_ spec: Substring) -> String {
                let spec = spec.trimmingCharacters(in: .whitespaces)
                guard spec.hasPrefix("("), let close = spec.firstIndex(of: ")") else { return spec }
                let id = String(spec[...close])
                let rest = spec[spec.index(after: close)...].trimmingCharacters(in: .whitespaces)
                if !rest.isEmpty { names[id] = rest; return rest }
                return names[id] ?? id
            }
            if let first = line.first, first.isNumber || first == "+" || first == "-" || first == "*" {
                let fields = line.split(separator: " ")
                guard fields.count >= 2, let cost = UInt64(fields[1]) else {
                    if fields.count == 1 { expectCallCost = false; continue }   // a position without events costs 0
                    throw .malformedProfile(file: file, line: index + 1, detail: "cost line '\(line)' has no instruction count")
                }
                if expectCallCost {
                    if functions.contains(currentFunction) { inclusive[currentFunction, default: 0] += cost }
                    expectCallCost = false
                } else if functions.contains(currentFunction) {
                    inclusive[currentFunction, default: 0] += cost
                }
                continue
            }
            guard let equals = line.firstIndex(of: ":") ?? line.firstIndex(of: "=") else { continue }
            let key = line[..<equals]
            let value = line[line.index(after: equals)...]
            switch key {
            case "events":
                sawEvents = true
                guard value.split(separator: " ").first == "Ir" else {
                    throw .malformedProfile(file: file, line: index + 1, detail: "first event is '\(value)', expected Ir")
                }
            case "fn":
                currentFunction = name(value)
            case "cfn", "cfni":
                calledFunction = name(value)
            case "calls":
                let count = UInt64(value.split(separator: " ").first ?? "") ?? 0
                if allocationFunctions.contains(calledFunction) { allocations += count }
                expectCallCost = true
            case "totals", "summary":
                totals = UInt64(value.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
            default:
                break
            }
        }
        guard sawEvents else { throw .malformedProfile(file: file, line: 1, detail: "no 'events:' line; not a callgrind output file") }
        for function in functions where inclusive[function] == nil { inclusive[function] = 0 }
        return CallgrindProfile(inclusiveInstructions: inclusive, allocationCalls: allocations, totalInstructions: totals ?? 0)
    }
}

/// Why counting mode could not produce a result.
public enum CountingError: Error, Equatable, CustomStringConvertible {
    /// A callgrind output file could not be parsed.
    case malformedProfile(file: String, line: Int, detail: String)
    /// valgrind is not installed or failed.
    case valgrind(String)
    /// A counting result file could not be read or written.
    case resultFile(file: String, detail: String)

    public var description: String {
        switch self {
        case let .malformedProfile(file, line, detail): "\(file):\(line): \(detail)"
        case .valgrind(let detail): detail
        case let .resultFile(file, detail): "\(file): \(detail)"
        }
    }
}
