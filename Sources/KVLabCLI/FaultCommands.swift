// `kvlab proxy` (the fault proxy as a standalone process) and `kvlab supervise` (the process
// supervisor as a process, used to test that a killed supervisor leaves no children behind).

import ArgumentParser
import FaultInjection
import Foundation

struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Run kvlab's TCP proxy (no faults) until interrupted.",
        discussion: """
        Each --route PUBLIC_PORT=TARGET_HOST:TARGET_PORT listens on 127.0.0.1:PUBLIC_PORT and \
        forwards to the target; the proxy's cost per round trip can then be measured, e.g. \
        with redis-benchmark against the public port and against the target directly.
        """
    )

    @Option(name: .customLong("route"), help: "PUBLIC_PORT=TARGET_HOST:TARGET_PORT (repeatable).")
    var routes: [String] = []

    func run() throws {
        guard !routes.isEmpty else { throw CLIError(message: "give at least one --route PUBLIC_PORT=HOST:PORT", code: 2) }
        let proxy = try FaultProxy()
        for (index, route) in routes.enumerated() {
            let parts = route.split(separator: "=", maxSplits: 1)
            let target = parts.count == 2 ? parts[1].split(separator: ":") : []
            guard parts.count == 2, let publicPort = Int(parts[0]), target.count == 2, let targetPort = Int(target[1]) else {
                throw CLIError(message: "--route '\(route)': expected PUBLIC_PORT=TARGET_HOST:TARGET_PORT", code: 2)
            }
            let added = try proxy.addRoute(node: "route\(index)", publicPort: publicPort, targetHost: String(target[0]), targetPort: targetPort)
            Console.output("127.0.0.1:\(added.publicPort) -> \(added.targetHost):\(added.targetPort)")
        }
        while true { pause() }
    }
}

struct SuperviseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervise",
        abstract: "Start commands under kvlab's process supervisor and wait (for tests).",
        shouldDisplay: false
    )

    @Option(name: .customLong("run-directory"), help: "Where the children's log files go.")
    var runDirectory: String

    @Option(name: .customLong("command"), help: "A command line, split on spaces (repeatable).")
    var commands: [String] = []

    @Option(name: .customLong("timeout-seconds"), help: "Stop everything and exit after this long.")
    var timeoutSeconds: Double = 120

    func run() throws {
        ProcessSupervisor.installSignalHandlers()
        let supervisor = try ProcessSupervisor(runDirectory: runDirectory)
        for (index, command) in commands.enumerated() {
            let words = command.split(separator: " ").map(String.init)
            guard let executable = words.first else { throw CLIError(message: "--command is empty", code: 2) }
            let pid = try supervisor.spawn(name: "child\(index)", executable: executable, arguments: Array(words.dropFirst()))
            Console.output("pid \(pid)")
        }
        Console.output("ready")
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline && supervisor.statuses().contains(where: \.isRunning) { usleep(100_000) }
        supervisor.stopAll()
    }
}
