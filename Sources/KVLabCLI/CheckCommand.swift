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
        1 violation, 2 bad input, 3 unknown (time limit reached). Examples:
          kvlab run -P workloads/workloada -p recordcount=10 -threads 4 --history h.jsonl
          kvlab check h.jsonl
          kvlab check data/knossos/cas-register/bad/cas-failure.edn --model cas-register --html out.html
        Without --model, the model follows from the operations: txn → multi-register, \
        acquire/release → mutex, cas → cas-register, keys → kv, otherwise register.
        """
    )

    @Argument(help: "The history file.")
    var file: String

    @Option(help: "The model: kv, register, cas-register, multi-register or mutex.")
    var model: String?

    @Option(help: "The format: kvlab, jepsen, jepsen-log or porcupine (default: from the file name and content).")
    var format: String?

    @Option(help: ArgumentHelp("The initial value, in EDN: a value for register and cas-register (default nil), a map such as '{:x 0 :y 0}' for multi-register.", valueName: "edn"))
    var initial: String?

    @Flag(help: "Accept an EDN history cut off inside its last event (a crashed writer); check the complete events before the cut.")
    var allowTruncated = false

    @Option(help: "Give up after this many seconds (verdict unknown, exit 3).")
    var timeout: Double?

    @Option(help: ArgumentHelp("Also write a standalone HTML timeline to this file.", valueName: "file"))
    var html: String?

    @Flag(help: "Do not shrink a violation's counterexample (faster; the counterexample is then the shortest illegal prefix).")
    var noMinimize = false

    @Flag(help: "Print the result as JSON instead of text.")
    var json = false

    func validate() throws {
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout \(timeout): expected a positive number of seconds") }
        if let model, !ModelChoice.names.contains(model) {
            throw ValidationError("--model \(model): expected one of \(ModelChoice.names.joined(separator: ", "))")
        }
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
        let operations: [HistoryOperation]
        do {
            let history: History
            if historyFormat == .jepsen || historyFormat == .porcupine {
                do {
                    history = try JepsenEDNFormat.read(text)
                } catch where allowTruncated && error.found == "end of input" {
                    history = try JepsenEDNFormat.read(text, allowTruncatedTail: true)
                    Console.error("kvlab check: warning: \(error.named(file)); checking the \(history.events.count) complete events before it")
                }
            } else {
                history = try historyFormat.read(text)
            }
            operations = try history.operations()
        } catch {
            throw CLIError(message: "kvlab check: \(error.named(file)) (format \(historyFormat.rawValue))", code: 2)
        }
        let choice = model.flatMap(ModelChoice.init(rawValue:)) ?? ModelChoice.guess(operations)
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
        let options = CheckOptions(timeout: timeout.map { .nanoseconds(Int64($0 * 1e9)) }, minimizeCounterexample: !noMinimize)
        let result: CheckResult
        do {
            result = try choice.check(operations, initial: initialValue, options: options)
        } catch {
            throw CLIError(message: "kvlab check: \(file): \(error)", code: 2)
        }
        if json {
            Console.output(result.jsonReport())
        } else {
            Console.output("kvlab check: \(file) (format \(historyFormat.rawValue), model \(choice.rawValue))")
            Console.output(result.textReport(), terminator: "")
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
}

/// The built-in models by name.
enum ModelChoice: String, CaseIterable {
    case kv, register, casRegister = "cas-register", multiRegister = "multi-register", mutex

    static var names: [String] { allCases.map(\.rawValue) }

    /// The model the operations call for.
    static func guess(_ operations: [HistoryOperation]) -> ModelChoice {
        let functions = Set(operations.map(\.function))
        if functions.contains("txn") { return .multiRegister }
        if functions.contains("acquire") || functions.contains("release") { return .mutex }
        if functions.contains("cas") { return .casRegister }
        if operations.contains(where: { $0.key != nil }) || functions.contains("append") || functions.contains("delete") { return .kv }
        return .register
    }

    func check(_ operations: [HistoryOperation], initial: Value, options: CheckOptions) throws(ModelError) -> CheckResult {
        switch self {
        case .kv: return try Linearizability.check(operations, model: KeyValueModel(), options: options)
        case .register: return try Linearizability.check(operations, model: RegisterModel(initialValue: initial), options: options)
        case .casRegister: return try Linearizability.check(operations, model: CASRegisterModel(initialValue: initial), options: options)
        case .multiRegister:
            var registers: [Value: Value] = [:]
            if case .map(let pairs) = initial { for pair in pairs { registers[pair.key] = pair.value } }
            return try Linearizability.check(operations, model: MultiRegisterModel(initialValues: registers), options: options)
        case .mutex: return try Linearizability.check(operations, model: MutexModel(), options: options)
        }
    }
}
