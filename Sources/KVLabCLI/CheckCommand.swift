// `kvlab check`: is a recorded history linearizable? Verdict per key, counterexample, HTML view.

import ArgumentParser
import Foundation
import History
import Linearizability

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a history for linearizability: a verdict per key, a counterexample, an HTML view.",
        discussion: """
        Reads a history (kvlab JSON Lines, Jepsen/Knossos EDN, Jepsen log lines, Porcupine \
        key-value logs), checks it against a sequential model, and prints the verdict of each \
        key and of the whole history. For a violation it prints a minimal set of operations that \
        cannot be linearized and the longest linearizable prefix. Exit status: 0 linearizable, \
        1 violation, 2 bad input, 3 unknown (time limit or memory budget reached). Examples:
          kvlab run -P workloads/workloada -p recordcount=10 -threads 4 --history h.jsonl
          kvlab check h.jsonl
          kvlab check data/knossos/cas-register/bad/cas-failure.edn --model cas-register --html out.html
        Without --model, the model follows from the operations: add → set, txn → multi-register, \
        acquire/release → mutex, cas → cas-register, keys → kv, otherwise register.
        Jepsen independent histories (values [k v], cas [k [old new]], no :key) are detected \
        and split per key (--independent auto, the default); each key gets its own verdict.
        --model set runs Jepsen's set checker instead of a linearizability search: lost, \
        unexpected and recovered elements of the final read (exit 0 valid, 1 invalid, 3 never read).
        --nil-reads: an ok read of nil means the register was empty (strict, the default), or \
        constrains nothing (any, as Knossos's register and cas-register models do).
        """
    )

    @Argument(help: "The history file.")
    var file: String

    @Option(help: "The model: kv, register, cas-register, multi-register, mutex or set.")
    var model: String?

    @Option(help: ArgumentHelp("Jepsen independent histories (values [k v], no :key): auto splits them per key when every operation is a tuple; on splits (an operation that is not a tuple is an error); off checks as one object (with a warning if it looks independent).", valueName: "auto|on|off"))
    var independent: String = "auto"

    @Option(help: ArgumentHelp("What an ok read of nil means for register and cas-register: strict (the register was empty; default) or any (constrains nothing, as in Knossos).", valueName: "strict|any"))
    var nilReads: String = "strict"

    @Option(help: "The format: kvlab, jepsen, jepsen-log or porcupine (default: from the file name and content).")
    var format: String?

    @Option(help: ArgumentHelp("The initial value, in EDN: a value for register and cas-register (default nil), a map such as '{:x 0 :y 0}' for multi-register.", valueName: "edn"))
    var initial: String?

    @Flag(help: "Accept an EDN history cut off inside its last event (a crashed writer); check the complete events before the cut.")
    var allowTruncated = false

    @Option(help: "Give up after this many seconds (verdict unknown, exit 3); 0 for no limit. Default 120.")
    var timeout: Double?

    @Option(help: ArgumentHelp("Give up (verdict unknown, exit 3) when the search's own structures hold this much memory: bytes, or with K, M, G (KiB, MiB, GiB); 0 for no limit. Default: a quarter of physical memory.", valueName: "size"))
    var maxMemory: String?

    @Flag(help: "Check every key even after one is a violation (by default the others stop and are reported not checked).")
    var allKeys = false

    @Option(help: ArgumentHelp("Counterexample shrinking: fast (default; bounded by 4 times the verdict's time, at least 2 s), exhaustive (1-minimal, within --timeout) or none.", valueName: "mode"))
    var minimize: String?

    @Option(help: ArgumentHelp("Turn off search techniques, to measure them: commuting-reads, transition-memo, frontier-encoding, inferred-order (comma-separated).", visibility: .hidden))
    var searchWithout: String?

    @Flag(help: "Print the search's statistics (steps, memoized configurations, peak bytes of its structures) to standard error.")
    var statistics = false

    @Option(help: ArgumentHelp("Also write a standalone HTML timeline to this file.", valueName: "file"))
    var html: String?

    @Flag(help: "Do not shrink a violation's counterexample (faster; the counterexample is then the shortest illegal prefix).")
    var noMinimize = false

    @Flag(help: "Print the result as JSON instead of text.")
    var json = false

    func validate() throws {
        if let timeout, !(timeout >= 0) { throw ValidationError("--timeout \(timeout): expected a number of seconds, 0 for no limit") }
        if let maxMemory, CheckCommand.parseSize(maxMemory) == nil {
            throw ValidationError("--max-memory \(maxMemory): expected a size such as 4G, 512M or 1000000 (0 for no limit)")
        }
        if let minimize, !["fast", "exhaustive", "none"].contains(minimize) {
            throw ValidationError("--minimize \(minimize): expected fast, exhaustive or none")
        }
        if let searchWithout, CheckCommand.techniques(without: searchWithout) == nil {
            throw ValidationError("--search-without \(searchWithout): expected commuting-reads, transition-memo, frontier-encoding, inferred-order")
        }
        if let model, !ModelChoice.names.contains(model) {
            throw ValidationError("--model \(model): expected one of \(ModelChoice.names.joined(separator: ", "))")
        }
        if !["auto", "on", "off"].contains(independent) {
            throw ValidationError("--independent \(independent): expected auto, on or off")
        }
        if NilReads(rawValue: nilReads) == nil { throw ValidationError("--nil-reads \(nilReads): expected strict or any") }
        if let format, HistoryFormat(rawValue: format) == nil {
            throw ValidationError("--format \(format): expected one of \(HistoryFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw CLIError(message: "kvlab check: cannot read '\(file)': \(error.localizedDescription)", code: 2)
        }
        let historyFormat = format.flatMap(HistoryFormat.init(rawValue:)) ?? HistoryFormat.guess(path: file, text: text)
        let history: History
        var operations: [HistoryOperation]
        do {
            history = try readHistory(text, format: historyFormat)
            operations = try history.operations()
        } catch {
            throw CLIError(message: "kvlab check: \(error.named(file)) (format \(historyFormat.rawValue))", code: 2)
        }
        if model == "set" || (model == nil && ModelChoice.isSetWorkload(history)) {
            try checkSet(history, format: historyFormat)
            return
        }
        // Jepsen independent histories: split per key, or warn that they are not.
        let detection = JepsenIndependent.detect(operations)
        let split = independent == "on" || (independent == "auto" && detection.isIndependent)
        if split {
            do {
                operations = try JepsenIndependent.split(operations)
            } catch {
                throw CLIError(message: "kvlab check: --independent on: \(error.named(file))", code: 2)
            }
        } else if let warning = detection.warning(split: false) {
            Console.error("kvlab check: warning: \(file): \(warning)")
        }
        let choice = model.flatMap(ModelChoice.init(rawValue:)) ?? ModelChoice.guess(operations, independent: split)
        let nilReadSemantics = NilReads(rawValue: nilReads) ?? .strict
        if nilReadSemantics != .strict && choice != .register && choice != .casRegister {
            throw CLIError(message: "kvlab check: --nil-reads \(nilReads) applies to the register and cas-register models, not \(choice.rawValue)", code: 2)
        }
        var initialValue: Value = .null
        if let initial {
            do {
                var reader = EDNReader(initial)
                let forms = try reader.readAll()
                guard forms.count == 1 else { throw HistoryError(line: 1, column: 1, expected: "one EDN value", found: "\(forms.count)") }
                initialValue = forms[0]
            } catch {
                throw CLIError(message: "kvlab check: --initial '\(initial)': \(error)", code: 2)
            }
        }
        let seconds = timeout ?? Double(CheckOptions.defaultTimeout.components.seconds)
        let memory = maxMemory.flatMap(CheckCommand.parseSize) ?? CheckOptions.defaultMaximumMemory
        // A limit too long to count in nanoseconds (beyond ~290 years, or inf) is no limit.
        let options = CheckOptions(timeout: seconds > 0 && seconds < 9e9 ? .nanoseconds(Int64(seconds * 1e9)) : nil,
                                   maximumMemory: memory > 0 ? memory : nil,
                                   minimizeCounterexample: !noMinimize && minimize != "none",
                                   exhaustiveMinimization: minimize == "exhaustive",
                                   stopAtFirstViolation: !allKeys,
                                   techniques: searchWithout.flatMap(CheckCommand.techniques(without:)) ?? .all)
        let result: CheckResult
        do {
            result = try choice.check(operations, initial: initialValue, nilReads: nilReadSemantics, options: options)
        } catch {
            throw CLIError(message: "kvlab check: \(file): \(error)", code: 2)
        }
        if json {
            Console.output(result.jsonReport(annotations: [("independent", split ? "true" : "false"),
                                                           ("nilReads", "\"\(nilReadSemantics.rawValue)\"")]))
        } else {
            var how = "format \(historyFormat.rawValue), model \(choice.rawValue)"
            if split { let keys = Set(operations.compactMap(\.key)).count
                how += ", Jepsen independent: split into \(keys) key\(keys == 1 ? "" : "s")" }
            if choice == .register || choice == .casRegister { how += ", nil reads \(nilReadSemantics.rawValue)" }
            Console.output("kvlab check: \(file) (\(how))")
            Console.output(result.textReport(), terminator: "")
        }
        let stops = Dictionary(grouping: result.partitions.compactMap(\.stopReason), by: { $0 }).mapValues(\.count)
        if let count = stops[.timeout] {
            Console.error("kvlab check: time limit of \(seconds) s reached on \(count) part\(count == 1 ? "" : "s") (--timeout N to change it, 0 for none)")
        }
        if let count = stops[.memoryBudget] {
            Console.error("kvlab check: memory budget of \(memory >> 20) MiB reached on \(count) part\(count == 1 ? "" : "s") (--max-memory to change it, 0 for none)")
        }
        if let count = stops[.notChecked] {
            Console.error("kvlab check: \(count) part\(count == 1 ? "" : "s") not checked once a violation was found (--all-keys checks them all)")
        }
        if statistics {
            let peak = result.partitions.map(\.peakSearchBytes).max() ?? 0
            let steps = result.partitions.map(\.steps).reduce(0, +)
            let configurations = result.partitions.map(\.configurations).reduce(0, +)
            Console.error("kvlab check: statistics: \(steps) steps, \(configurations) configurations memoized, peak search structures \(peak) bytes (\(peak >> 20) MiB), \(formatSeconds(result.elapsed)) s")
        }
        if let html {
            do {
                try Data(result.htmlReport(title: "kvlab check \((file as NSString).lastPathComponent)").utf8)
                    .write(to: URL(fileURLWithPath: html))
            } catch {
                throw CLIError(message: "kvlab check: cannot write '\(html)': \(error.localizedDescription)", code: 2)
            }
        }
        switch result.verdict {
        case .linearizable: return
        case .violation: throw ExitCode(1)
        case .unknown: throw ExitCode(3)
        }
    }

    func readHistory(_ text: String, format: HistoryFormat) throws(HistoryError) -> History {
        guard format == .jepsen || format == .porcupine else { return try format.read(text) }
        do {
            return try JepsenEDNFormat.read(text)
        } catch where allowTruncated && error.found == "end of input" {
            let history = try JepsenEDNFormat.read(text, allowTruncatedTail: true)
            Console.error("kvlab check: warning: \(error.named(file)); checking the \(history.events.count) complete events before it")
            return history
        }
    }

    /// Jepsen's set checker: report, then exit 0 (valid), 1 (invalid) or 3 (never read).
    func checkSet(_ history: History, format: HistoryFormat) throws {
        let result: SetCheckResult
        do {
            result = try SetChecker.check(history)
        } catch {
            throw CLIError(message: "kvlab check: \(file): \(error)", code: 2)
        }
        if html != nil { Console.error("kvlab check: warning: --html draws linearizability checks; the set checker has no timeline") }
        if json {
            Console.output(result.jsonReport())
        } else {
            Console.output("kvlab check: \(file) (format \(format.rawValue), model set)")
            Console.output(result.textReport(), terminator: "")
        }
        switch result.validity {
        case .valid: return
        case .invalid: throw ExitCode(1)
        case .unknown: throw ExitCode(3)
        }
    }
}

extension CheckCommand {
    /// `4G`, `512M`, `64K`, `1000` (bytes; K/M/G are binary units, an optional `iB`/`B` is accepted).
    static func parseSize(_ text: String) -> Int? {
        var digits = text.trimmingCharacters(in: .whitespaces).uppercased()
        for suffix in ["IB", "B"] where digits.hasSuffix(suffix) { digits.removeLast(suffix.count); break }
        var scale = 1
        if let last = digits.last, let shift = ["K": 10, "M": 20, "G": 30, "T": 40][String(last)] {
            scale = 1 << shift
            digits.removeLast()
        }
        guard let value = Double(digits), value >= 0, value * Double(scale) < 9e18 else { return nil }
        return Int(value * Double(scale))
    }

    /// All techniques but those named.
    static func techniques(without names: String) -> SearchTechniques? {
        var techniques = SearchTechniques.all
        for name in names.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            switch name {
            case "commuting-reads": techniques.remove(.commutingReads)
            case "transition-memo": techniques.remove(.transitionMemo)
            case "frontier-encoding": techniques.remove(.frontierEncoding)
            case "inferred-order": techniques.remove(.inferredOrder)
            default: return nil
            }
        }
        return techniques
    }
}

func formatSeconds(_ d: Duration) -> String {
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    return String(format: "%.3f", s)
}

/// The built-in models by name.
enum ModelChoice: String, CaseIterable {
    case kv, register, casRegister = "cas-register", multiRegister = "multi-register", mutex

    /// The names `--model` takes: these, and `set` (Jepsen's set checker, not a search).
    static var names: [String] { allCases.map(\.rawValue) + ["set"] }

    /// A set workload: adds, and reads of collections, nothing else.
    static func isSetWorkload(_ history: History) -> Bool {
        history.events.contains { $0.function == "add" }
            && history.events.allSatisfy { $0.function == "add" || $0.function == "read" }
    }

    /// The model the operations call for. A Jepsen independent history split per key is a
    /// set of registers (cas registers if it has a cas), not a key-value map.
    static func guess(_ operations: [HistoryOperation], independent: Bool = false) -> ModelChoice {
        let functions = Set(operations.map(\.function))
        if functions.contains("txn") { return .multiRegister }
        if functions.contains("acquire") || functions.contains("release") { return .mutex }
        if functions.contains("cas") { return .casRegister }
        if independent && functions.isSubset(of: ["read", "write"]) { return .register }
        if operations.contains(where: { $0.key != nil }) || functions.contains("append") || functions.contains("delete") { return .kv }
        return .register
    }

    func check(_ operations: [HistoryOperation], initial: Value, nilReads: NilReads = .strict,
               options: CheckOptions) throws(ModelError) -> CheckResult {
        switch self {
        case .kv: return try Linearizability.check(operations, model: KeyValueModel(), options: options)
        case .register:
            return try Linearizability.check(operations, model: RegisterModel(initialValue: initial, nilReads: nilReads), options: options)
        case .casRegister:
            return try Linearizability.check(operations, model: CASRegisterModel(initialValue: initial, nilReads: nilReads), options: options)
        case .multiRegister:
            var registers: [Value: Value] = [:]
            if case .map(let pairs) = initial { for pair in pairs { registers[pair.key] = pair.value } }
            return try Linearizability.check(operations, model: MultiRegisterModel(initialValues: registers), options: options)
        case .mutex: return try Linearizability.check(operations, model: MutexModel(), options: options)
        }
    }
}
