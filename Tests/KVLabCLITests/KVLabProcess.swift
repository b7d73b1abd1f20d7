// Runs the built `kvlab` binary as a user would, capturing its output and exit status.

import Foundation

struct KVLabRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum KVLabProcess {
    /// The `kvlab` executable that `swift test` built next to the test bundle.
    static var executable: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("kvlab")
    }

    static func run(_ arguments: [String]) throws -> KVLabRun {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes to the end before waiting, so a large output cannot block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return KVLabRun(status: process.terminationStatus,
                        stdout: String(decoding: outData, as: UTF8.self),
                        stderr: String(decoding: errData, as: UTF8.self))
    }
}
