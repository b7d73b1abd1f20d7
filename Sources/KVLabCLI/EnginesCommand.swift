// `kvlab engines`: what engines exist and what each can do.

import ArgumentParser
import Foundation
import KVCore
import KVEngines

struct EnginesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engines",
        abstract: "List the engines with their capabilities and options.",
        discussion: """
        Capabilities: stores-data (reads return what was written), ordered-scan (scans in key \
        order), persistent (survives close and reopen), durable-sync (sync writes are durable on \
        return), atomic-batch (a write batch is applied all at once). Options are passed to \
        other commands as --option name=value.
        """
    )

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let registry = StandardEngines.registry
        if json {
            struct Entry: Encodable {
                var name: String
                var summary: String
                var capabilities: [String]
                var options: [[String: String]]
                var isDefault: Bool
            }
            let entries = registry.descriptors.map { d in
                Entry(name: d.name, summary: d.summary, capabilities: d.capabilities.nameList,
                      options: d.options.map { ["name": $0.name, "default": $0.defaultValue, "help": $0.help] },
                      isDefault: d.name == StandardEngines.defaultEngine)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(entries), as: UTF8.self))
            return
        }
        for d in registry.descriptors {
            let marker = d.name == StandardEngines.defaultEngine ? " (default)" : ""
            print("\(d.name)\(marker)")
            print("  \(d.summary)")
            print("  capabilities: \(d.capabilities)")
            for option in d.options {
                print("  --option \(option.name)=\(option.defaultValue)  \(option.help)")
            }
        }
    }
}
