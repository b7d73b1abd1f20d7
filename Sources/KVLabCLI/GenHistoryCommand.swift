// `kvlab gen-history`: a seeded history of a simulated linearizable key-value map, optionally with a planted violation.

import ArgumentParser
import Foundation
import History
import Linearizability

struct GenHistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen-history",
        abstract: "Generate a key-value history from a simulated linearizable map (or with a planted violation).",
        discussion: """
        Clients think (exponential delay), invoke a get (read), put (write) or append on a \
        random key; the operation takes effect after an exponential delay and returns after \
        another. Appended and written values are unique. The same options and seed give the \
        same history. --bad plants a read of a value no write made; --mutation plants others. \
        Examples:
          kvlab gen-history --seed 7 > ok.jsonl && kvlab check ok.jsonl
          kvlab gen-history --seed 7 --bad --format porcupine > bad.txt
        """
    )

    @Option(help: "Concurrent clients.") var clients = 50
    @Option(help: "Keys.") var keys = 10
    @Option(help: "Operations in all.") var ops = 2000
    @Option(help: "The seed.") var seed: UInt64 = 1
    @Option(help: ArgumentHelp("Weights of get, put and append.", valueName: "get,put,append")) var mix = "45,5,50"
    @Option(help: "Probability that an operation ends :info (its client crashes; it took effect or not).") var infoProbability = 0.0
    @Flag(help: "Plant one read of a value no write made (a certain violation).") var bad = false
    @Option(help: "Plant this mutation instead: \(HistoryGenerator.Mutation.allCases.map(\.rawValue).joined(separator: ", ")).")
    var mutation: String?
    @Option(help: "Output format: jsonl (kvlab), edn (Jepsen) or porcupine (Porcupine's kv logs).") var format = "jsonl"
    @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var output: String?

    func validate() throws {
        guard clients > 0, keys > 0, ops >= 0 else { throw ValidationError("--clients and --keys must be positive, --ops not negative") }
        guard parsedMix != nil else { throw ValidationError("--mix \(mix): expected three non-negative weights get,put,append, not all zero") }
        guard (0...1).contains(infoProbability) else { throw ValidationError("--info-probability \(infoProbability): expected 0...1") }
        if let mutation, HistoryGenerator.Mutation(rawValue: mutation) == nil {
            throw ValidationError("--mutation \(mutation): expected one of \(HistoryGenerator.Mutation.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if bad && mutation != nil { throw ValidationError("--bad and --mutation: give one") }
        guard ["jsonl", "edn", "porcupine"].contains(format) else { throw ValidationError("--format \(format): expected jsonl, edn or porcupine") }
    }

    var parsedMix: (Double, Double, Double)? {
        let parts = mix.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, let g = parts[0], let p = parts[1], let a = parts[2], g >= 0, p >= 0, a >= 0, g + p + a > 0 else { return nil }
        return (g, p, a)
    }

    func run() throws {
        var generator = HistoryGenerator()
        generator.clients = clients
        generator.keys = keys
        generator.operations = ops
        generator.infoProbability = infoProbability
        if let (g, p, a) = parsedMix { generator.readWeight = g; generator.writeWeight = p; generator.appendWeight = a }
        let planted: HistoryGenerator.Mutation? = bad ? .phantomRead : mutation.flatMap(HistoryGenerator.Mutation.init(rawValue:))
        let (history, didPlant) = generator.generate(seed: seed, mutation: planted)
        if let planted, !didPlant {
            throw CLIError(message: "kvlab gen-history: seed \(seed): the history has no place for a \(planted.rawValue)", code: 2)
        }
        let text: String = switch format {
        case "edn": JepsenEDNFormat.write(history)
        case "porcupine": PorcupineKVFormat.write(history)
        default: JSONLinesFormat.write(history)
        }
        if let output {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output))
            } catch {
                throw CLIError(message: "kvlab gen-history: cannot write '\(output)': \(error.localizedDescription)", code: 2)
            }
        } else {
            Console.output(text, terminator: "")
        }
    }
}
