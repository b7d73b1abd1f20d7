// `kvlab crash-writer` (hidden): writes synced records forever, printing each acknowledged key,
// for the SIGKILL crash tests.

import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import KVCore

struct CrashWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-writer",
        abstract: "Write synced records until killed, printing each acknowledged key (crash tests).",
        shouldDisplay: false
    )

    @OptionGroup var selection: EngineSelection

    @Option(help: "Prefix of every key written.")
    var prefix: String = "k"

    @Option(help: "Stop after this many writes (0 = until killed).")
    var count: Int = 0

    func run() throws {
        // A pipe is block-buffered by default: the parent must see each line as it is acknowledged.
        setvbuf(stdout, nil, _IOLBF, 0)
        let engine = try selection.open()
        var i = 0
        while count == 0 || i < count {
            let key = Array("\(prefix)-\(i)".utf8)
            try engine.put(key, CrashWriterCommand.value(for: key), options: .synced)
            print("\(prefix)-\(i)")
            i += 1
        }
        try engine.close()
    }

    /// The value written under `key`: the key repeated to at least 100 bytes.
    static func value(for key: [UInt8]) -> [UInt8] {
        var v: [UInt8] = []
        while v.count < 100 { v += key + [UInt8(ascii: "|")] }
        return v
    }
}
