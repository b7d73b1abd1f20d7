// The process supervisor with real processes: logs, signals, restart, readiness, and cleanup on SIGINT.

import Foundation
import Synchronization
import Testing
@testable import FaultInjection

/// The process state letter from /proc/PID/stat (R, S, T, Z...), nil when the process is gone.
func processState(_ pid: Int32) -> Character? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    return text[text.index(close, offsetBy: 2)]
}

/// True when the process no longer runs (gone, or a zombie some other parent has yet to reap).
func isGone(_ pid: Int32) -> Bool {
    let state = processState(pid)
    return state == nil || state == "Z" || state == "X"
}

/// Polls `condition` every 20 ms, at most `seconds`; returns its last value.
func eventually(seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

func temporaryRunDirectory(_ label: String) -> String {
    NSTemporaryDirectory() + "kvlab-\(label)-\(UUID().uuidString.prefix(8))"
}

/// The `kvlab` executable that `swift test` built next to the test bundle.
var kvlabExecutable: String {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("kvlab").path
}

@Suite("ProcessSupervisor")
struct ProcessSupervisorTests {
    @Test("a child's output goes to its log file and its exit status is recorded")
    func logAndExitStatus() throws {
        let directory = temporaryRunDirectory("supervisor-log")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let supervisor = try ProcessSupervisor(runDirectory: directory)
        try supervisor.spawn(name: "echo", executable: "sh", arguments: ["-c", "echo out; echo err >&2; exit 3"])
        #expect(eventually { (try? supervisor.status("echo").isRunning) == false })
        #expect(try supervisor.status("echo").termination == .exited(3))
        let log = try String(contentsOfFile: directory + "/echo.log", encoding: .utf8)
        #expect(log.contains("out") && log.contains("err"))
    }

    @Test("pause stops the process, resume continues it, restart gives a new process, kill reaps it")
    func signals() throws {
        let directory = temporaryRunDirectory("supervisor-signals")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let supervisor = try ProcessSupervisor(runDirectory: directory)
        let pid = try supervisor.spawn(name: "sleeper", executable: "sleep", arguments: ["300"])
        try supervisor.pause("sleeper")
        #expect(eventually { processState(pid) == "T" })
        #expect(try supervisor.status("sleeper").isPaused)
        try supervisor.resume("sleeper")
        #expect(eventually { processState(pid) == "S" })

        let restarted = try supervisor.restart("sleeper")
        #expect(restarted != pid)
        #expect(processState(pid) == nil)   // reaped by the supervisor: no zombie left
        #expect(try supervisor.status("sleeper").isRunning)

        try supervisor.kill("sleeper")
        #expect(try supervisor.status("sleeper").termination == .signaled(SIGKILL))
        #expect(processState(restarted) == nil)
    }

    @Test("stopAll kills every child and what the children forked into their process group")
    func stopAllKillsGroups() throws {
        let directory = temporaryRunDirectory("supervisor-groups")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let supervisor = try ProcessSupervisor(runDirectory: directory)
        try supervisor.spawn(name: "forker", executable: "sh", arguments: ["-c", "sleep 300 & echo $!; wait"])
        try supervisor.spawn(name: "plain", executable: "sleep", arguments: ["300"])
        var grandchild: Int32?
        #expect(eventually {
            grandchild = Int32(supervisor.logTail("forker").trimmingCharacters(in: .whitespacesAndNewlines))
            return grandchild != nil
        })
        let pids = supervisor.statuses().map(\.pid) + [grandchild ?? 0]
        supervisor.stopAll()
        #expect(supervisor.statuses().allSatisfy { !$0.isRunning })
        for pid in pids { #expect(eventually(seconds: 5) { isGone(pid) }, "pid \(pid) survived stopAll") }
    }

    @Test("waitForPort returns once the child listens and fails with its log when it exits first")
    func readiness() throws {
        let directory = temporaryRunDirectory("supervisor-port")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let supervisor = try ProcessSupervisor(runDirectory: directory)
        defer { supervisor.stopAll() }
        let port = try Sockets.freePort(host: "127.0.0.5")
        let script = "import socket,time\ntime.sleep(0.3)\ns=socket.socket()\ns.bind(('127.0.0.5',\(port)))\ns.listen()\ntime.sleep(120)"
        try supervisor.spawn(name: "listener", executable: "python3", arguments: ["-c", script])
        try supervisor.waitForPort("listener", host: "127.0.0.5", port: port, timeoutSeconds: 20)

        try supervisor.spawn(name: "dies", executable: "sh", arguments: ["-c", "echo boom; exit 1"])
        let otherPort = try Sockets.freePort(host: "127.0.0.5")
        let error = #expect(throws: FaultInjectionError.self) {
            try supervisor.waitForPort("dies", host: "127.0.0.5", port: otherPort, timeoutSeconds: 20)
        }
        #expect(error?.description.contains("boom") == true)
    }

    @Test("a missing executable and a second process under a live name are typed errors")
    func errors() throws {
        let directory = temporaryRunDirectory("supervisor-errors")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let supervisor = try ProcessSupervisor(runDirectory: directory)
        defer { supervisor.stopAll() }
        #expect(throws: FaultInjectionError.spawn(executable: "no-such-program-kvlab", errno: ENOENT)) {
            try supervisor.spawn(name: "x", executable: "no-such-program-kvlab", arguments: [])
        }
        try supervisor.spawn(name: "s", executable: "sleep", arguments: ["300"])
        #expect(throws: FaultInjectionError.duplicateName("s")) { try supervisor.spawn(name: "s", executable: "sleep", arguments: ["300"]) }
        #expect(throws: FaultInjectionError.unknownProcess("nobody")) { try supervisor.kill("nobody") }
    }

    @Test("a kvlab process running a supervisor, killed with SIGINT, leaves none of its children running")
    func sigintKillsGrandchildren() throws {
        let directory = temporaryRunDirectory("supervisor-sigint")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let supervisor = try ProcessSupervisor(runDirectory: directory)
        defer { supervisor.stopAll() }
        try supervisor.spawn(name: "kvlab", executable: kvlabExecutable, arguments: [
            "supervise", "--run-directory", directory + "/inner", "--command", "sleep 300", "--command", "sleep 301", "--timeout-seconds", "120",
        ])
        #expect(eventually(seconds: 30) { supervisor.logTail("kvlab").contains("ready") }, "kvlab supervise did not start: \(supervisor.logTail("kvlab"))")
        let grandchildren = supervisor.logTail("kvlab").split(whereSeparator: \.isNewline)
            .compactMap { $0.hasPrefix("pid ") ? Int32($0.dropFirst(4)) : nil }
        #expect(grandchildren.count == 2)
        for pid in grandchildren { #expect(!isGone(pid)) }

        let child = try supervisor.status("kvlab").pid
        kill(child, SIGINT)
        #expect(eventually(seconds: 10) { (try? supervisor.status("kvlab").isRunning) == false })
        #expect(try supervisor.status("kvlab").termination == .signaled(SIGINT))
        for pid in grandchildren { #expect(eventually(seconds: 5) { isGone(pid) }, "grandchild \(pid) outlived its supervisor") }
    }
}

@Suite("ProcessSupervisor concurrent spawns")
struct ProcessSupervisorConcurrentSpawnTests {
    @Test("spawns of one name from several threads at once start exactly one process, and stopAll leaves none behind")
    func concurrentSpawnsOfOneName() throws {
        let directory = temporaryRunDirectory("supervisor-race")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let supervisor = try ProcessSupervisor(runDirectory: directory)
        let started = Mutex<[Int32]>([])
        let group = DispatchGroup()
        for _ in 0..<8 {
            group.enter()
            Thread {
                defer { group.leave() }
                if let pid = try? supervisor.spawn(name: "sleeper", executable: "sleep", arguments: ["300"]) {
                    started.withLock { $0.append(pid) }
                }
            }.start()
        }
        group.wait()
        let pids = started.withLock { $0 }
        supervisor.stopAll()
        #expect(pids.count == 1)
        for pid in pids { #expect(isGone(pid), "process \(pid) outlived stopAll") }
    }
}
