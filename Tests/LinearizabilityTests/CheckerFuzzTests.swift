// The checker fuzzed with generated histories: always-linearizable ones and one-mutation ones, against brute force.

import History
@testable import Linearizability
import Testing

@Suite("Checker fuzz")
struct CheckerFuzzTests {
    @Test("on 3000 small generated histories, plain or with one mutation, the checker agrees with brute force with and without its search techniques")
    func agreesWithBruteForce() throws {
        let seed = testSeed(0xF022)
        var rng = SeededGenerator(seed: seed)
        var counts: [String: Int] = [:]
        for round in 0..<3000 {
            var generator = HistoryGenerator()
            generator.clients = Int.random(in: 2...4, using: &rng)
            generator.keys = Int.random(in: 1...2, using: &rng)
            generator.operations = Int.random(in: 1...9, using: &rng)
            generator.writeWeight = 15
            generator.infoProbability = round % 3 == 0 ? 0.2 : 0
            let historySeed = rng.next()
            let mutation = round % 5 == 0 ? nil : HistoryGenerator.Mutation.allCases.randomElement(using: &rng)
            let (history, planted) = generator.generate(seed: historySeed, mutation: mutation)
            let operations = try history.operations()
            let expected = try bruteForceLinearizable(operations, model: KeyValueModel())
            let context = "seed \(seed) round \(round) (history seed \(historySeed), \(mutation?.rawValue ?? "no mutation"))\n\(JSONLinesFormat.write(history))"
            if mutation == nil || !planted {
                // The simulated store is linearizable: brute force must agree, or the oracle is wrong.
                #expect(expected, "brute force calls a generated history a violation: \(context)")
            }
            for techniques in [SearchTechniques.all, []] {
                let result = try check(operations, model: KeyValueModel(),
                                       options: CheckOptions(timeout: nil, stopAtFirstViolation: techniques.isEmpty,
                                                             parallelism: 1, techniques: techniques))
                #expect(result.verdict == (expected ? .linearizable : .violation), "techniques \(techniques.rawValue): \(context)")
                if result.verdict == .violation, techniques == .all {
                    // The counterexample alone (others left out) is no more linearizable.
                    let part = try #require(result.partitions(.violation).first)
                    if part.counterexampleStartPosition == nil {
                        let subset = part.counterexample.enumerated().map { i, id -> HistoryOperation in
                            var copy = operations[id]
                            copy.id = i
                            return copy
                        }
                        #expect(try !bruteForceLinearizable(subset, model: KeyValueModel()), "counterexample \(subset): \(context)")
                    }
                }
            }
            counts[expected ? "linearizable" : "violation", default: 0] += 1
            if mutation != nil && !expected { counts["mutation detected", default: 0] += 1 }
        }
        // Both verdicts well represented, or the fuzzing proves little.
        #expect(counts["violation", default: 0] > 600 && counts["linearizable", default: 0] > 600, "\(counts)")
    }
}
