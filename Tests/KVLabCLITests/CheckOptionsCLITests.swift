// `kvlab check` options for Jepsen users: independent histories, nil-read semantics, the set model, the HTML page.

import Foundation
import Testing

@Suite("kvlab check: independent, nil reads, set")
struct CheckOptionsCLITests {
    static func temporaryFile(_ name: String, _ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-check-options-\(getpid())-\(name)").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Registers 0 and 1 in Jepsen's independent shape; key 1's read is stale.
    static let independent = """
    [{:process 0, :type :invoke, :f :write, :value [0 1], :time 1000}
     {:process 0, :type :ok, :f :write, :value [0 1], :time 2000}
     {:process 1, :type :invoke, :f :write, :value [1 1], :time 3000}
     {:process 1, :type :ok, :f :write, :value [1 1], :time 4000}
     {:process 1, :type :invoke, :f :write, :value [1 2], :time 5000}
     {:process 1, :type :ok, :f :write, :value [1 2], :time 6000}
     {:process 2, :type :invoke, :f :read, :value [1 nil], :time 7000}
     {:process 2, :type :ok, :f :read, :value [1 1], :time 8000}
     {:process 3, :type :invoke, :f :read, :value [0 nil], :time 9000}
     {:process 3, :type :ok, :f :read, :value [0 1], :time 9500}]
    """

    @Test("a Jepsen independent history is split per key by default, with per-key verdicts; --independent off warns")
    func independentHistories() throws {
        let file = try Self.temporaryFile("independent.edn", Self.independent)
        let html = file + ".html"
        defer { for p in [file, html] { try? FileManager.default.removeItem(atPath: p) } }
        // --all-keys: stopping at the first violation, key 0 may be "not checked".
        let run = try KVLabProcess.run(["check", file, "--html", html, "--all-keys"])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("Jepsen independent: split into 2 keys"))
        #expect(run.stdout.contains("model register"))
        #expect(run.stdout.contains("key 1: violation") && run.stdout.contains("key 0: linearizable"))
        #expect(run.stdout.contains("p2's read of 1 (op #3) returned 1."))
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("class=\"op bad impossible\"") && page.contains("1 linearizable part"))

        let json = try KVLabProcess.run(["check", file, "--json"])
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(decoded["independent"] as? Bool == true)
        #expect((decoded["partitions"] as? [[String: Any]])?.count == 2)

        let whole = try KVLabProcess.run(["check", file, "--independent", "off"])
        #expect(whole.stderr.contains("warning") && whole.stderr.contains("false violations"), "\(whole.stderr)")
        #expect(!whole.stdout.contains("key 1:"))

        let bad = try KVLabProcess.run(["check", file, "--independent", "maybe"])
        #expect(bad.status != 0 && bad.stderr.contains("expected auto, on or off"))
    }

    @Test("--nil-reads any accepts an ok read of nil after a write, as Knossos does; strict is the default and says so")
    func nilReads() throws {
        let text = """
        [{:process 0, :type :invoke, :f :write, :value 1}
         {:process 0, :type :ok, :f :write, :value 1}
         {:process 1, :type :invoke, :f :read, :value nil}
         {:process 1, :type :ok, :f :read, :value nil}]
        """
        let file = try Self.temporaryFile("nil.edn", text)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let strict = try KVLabProcess.run(["check", file])
        #expect(strict.status == 1)
        #expect(strict.stdout.contains("nil reads strict"))
        let any = try KVLabProcess.run(["check", file, "--nil-reads", "any"])
        #expect(any.status == 0, "\(any.stdout)\(any.stderr)")
        let kv = try KVLabProcess.run(["check", file, "--nil-reads", "any", "--model", "kv"])
        #expect(kv.status == 2 && kv.stderr.contains("applies to the register and cas-register models"))
        let help = try KVLabProcess.run(["check", "--help"])
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")   // help wraps to the terminal
        #expect(words.contains("--nil-reads <strict|any>") && words.contains("(strict, the default)"))
    }

    @Test("--model set reports lost, unexpected and recovered elements; exit 1 when invalid, 0 when valid, 3 when never read")
    func setModel() throws {
        let adds = """
        {:process 0, :type :invoke, :f :add, :value 1}
        {:process 0, :type :ok, :f :add, :value 1}
        {:process 1, :type :invoke, :f :add, :value 2}
        {:process 1, :type :ok, :f :add, :value 2}
        {:process 2, :type :invoke, :f :add, :value 3}
        {:process 2, :type :info, :f :add, :value 3}
        """
        let invalid = try Self.temporaryFile("set-bad.edn", adds + "\n{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :read, :value #{1 3 9}}\n")
        let valid = try Self.temporaryFile("set-ok.edn", adds + "\n{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :read, :value #{1 2}}\n")
        let unread = try Self.temporaryFile("set-unread.edn", adds)
        defer { for p in [invalid, valid, unread] { try? FileManager.default.removeItem(atPath: p) } }
        let bad = try KVLabProcess.run(["check", invalid, "--model", "set"])
        #expect(bad.status == 1, "\(bad.stdout)\(bad.stderr)")
        #expect(bad.stdout.contains("lost: 1 (acknowledged, missing from the final read): 2"))
        #expect(bad.stdout.contains("unexpected: 1 (read, never added): 9"))
        #expect(bad.stdout.contains("recovered: 1 (add failed or indeterminate, yet read): 3"))
        let good = try KVLabProcess.run(["check", valid])    // the set model is guessed from :add
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("model set"))
        let never = try KVLabProcess.run(["check", unread, "--model", "set", "--json"])
        #expect(never.status == 3)
        #expect(never.stdout.contains("\"valid\":\"unknown\""))
    }
}
