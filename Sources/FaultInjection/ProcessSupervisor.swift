// Starts, kills, pauses and restarts the processes of an experiment, and makes sure none outlives it.

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KVCore

/// What a supervised process was started with (restart reuses it).
public struct ProcessSpecification: Sendable, Equatable {
    /// The name the supervisor knows it by (unique per supervisor); also the log file's name.
    public var name: String
    /// The executable: a path, or a name looked up on `PATH`.
    public var executable: String
    public var arguments: [String]
    /// The environment; nil = this process's own.
    public var environment: [String: String]?

    public init(name: String, executable: String, arguments: [String], environment: [String: String]? = nil) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }
}

/// A supervised process as seen now.
public struct SupervisedProcessStatus: Sendable, Equatable {
    public var name: String
    public var pid: Int32
    /// True until the process has exited and been reaped.
    public var isRunning: Bool
    /// True between `pause` and `resume`.
    public var isPaused: Bool
    /// How it ended: an exit status, or the signal that killed it.
    public var termination: Termination?
    /// Where its stdout and stderr go.
    public var logPath: String

    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
    }
}

/// Spawns processes (posix_spawn) with their output in log files under a run directory, and
/// signals them: kill (SIGKILL), pause (SIGSTOP), resume (SIGCONT), restart with the same argv.
///
/// Nothing it starts outlives it: `stopAll()` (also called by `deinit`) kills every process it
/// started; an `atexit` hook does the same when the program exits normally, and
/// `installSignalHandlers()` does it on SIGINT/SIGTERM before the program dies of the signal.
/// Each child runs in its own process group (so a terminal's Ctrl-C reaches the supervisor, which
/// then decides), and signals go to the whole group, which covers children a server forks itself
/// (redis-server's background saves). A thread per child waits for it (`waitpid`), so no child
/// is left a zombie and `kill` returns only once the process is gone.
public final class ProcessSupervisor: @unchecked Sendable {
    /// Where the log files go (created if missing).
    public let runDirectory: String

    private let lock = ConditionLock()
    /// Held across a whole `spawn` (check, posix_spawn, record): two spawns of one name at once
    /// (a nemesis heal and the final heal both restarting a node) would otherwise both start a
    /// process, and the first one's entry, overwritten, would no longer be killed by `stopAll`.
    private let spawnLock = ConditionLock()
    private var entries: [String: Entry] = [:]

    private final class Entry: @unchecked Sendable {   // fields guarded by `lock`
        var specification: ProcessSpecification
        var pid: Int32
        var isRunning = true
        var isPaused = false
        var termination: SupervisedProcessStatus.Termination?
        let logPath: String

        init(specification: ProcessSpecification, pid: Int32, logPath: String) {
            self.specification = specification
            self.pid = pid
            self.logPath = logPath
        }
    }

    /// - Parameter runDirectory: the directory for log files (created with intermediate directories).
    /// - Throws: `.logFile` if the directory cannot be created.
    public init(runDirectory: String) throws(FaultInjectionError) {
        self.runDirectory = runDirectory
        do {
            try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        } catch {
            throw .logFile(path: runDirectory, errno: EACCES)
        }
        ChildRegistry.installExitHook()
    }

    deinit { stopAll() }

    // MARK: - Starting

    /// Starts a process; its stdout and stderr are appended to `<runDirectory>/<name>.log`.
    /// - Returns: its process id.
    /// - Throws: `.duplicateName` if a running process has that name, `.logFile`, `.spawn`.
    @discardableResult
    public func spawn(_ specification: ProcessSpecification) throws(FaultInjectionError) -> Int32 {
        spawnLock.lock()
        defer { spawnLock.unlock() }
        let existing: Bool = lock.withLock { entries[specification.name]?.isRunning ?? false }
        if existing { throw .duplicateName(specification.name) }
        let logPath = runDirectory + "/" + specification.name + ".log"
        let pid = try Self.spawnProcess(specification, logPath: logPath)
        let entry = Entry(specification: specification, pid: pid, logPath: logPath)
        lock.withLock { entries[specification.name] = entry }
        startReaper(entry, pid: pid)
        return pid
    }

    /// Starts a process (see `spawn(_:)`).
    @discardableResult
    public func spawn(name: String, executable: String, arguments: [String],
                      environment: [String: String]? = nil) throws(FaultInjectionError) -> Int32 {
        try spawn(ProcessSpecification(name: name, executable: executable, arguments: arguments, environment: environment))
    }

    /// Kills the process (if it runs) and starts it again with the same argv, environment and log.
    @discardableResult
    public func restart(_ name: String) throws(FaultInjectionError) -> Int32 {
        guard let specification = lock.withLock({ entries[name]?.specification }) else { throw .unknownProcess(name) }
        try kill(name)
        return try spawn(specification)
    }

    // MARK: - Signals

    /// SIGKILL to the process's group; returns once it has been reaped. A process already gone is fine.
    public func kill(_ name: String) throws(FaultInjectionError) {
        guard let entry = lock.withLock({ entries[name] }) else { throw .unknownProcess(name) }
        signal(entry, SIGKILL)
        lock.withLock {
            while entry.isRunning { lock.wait() }
        }
    }

    /// SIGSTOP to the process's group: it stays alive and silent (a long GC pause, a VM freeze).
    public func pause(_ name: String) throws(FaultInjectionError) {
        guard let entry = lock.withLock({ entries[name] }) else { throw .unknownProcess(name) }
        signal(entry, SIGSTOP)
        lock.withLock { if entry.isRunning { entry.isPaused = true } }
    }

    /// SIGCONT to the process's group.
    public func resume(_ name: String) throws(FaultInjectionError) {
        guard let entry = lock.withLock({ entries[name] }) else { throw .unknownProcess(name) }
        signal(entry, SIGCONT)
        lock.withLock { entry.isPaused = false }
    }

    /// Kills every process this supervisor started and waits until each is reaped (idempotent).
    public func stopAll() {
        let all = lock.withLock { Array(entries.values) }
        for entry in all { signal(entry, SIGKILL) }
        lock.withLock {
            for entry in all { while entry.isRunning { lock.wait() } }
        }
    }

    private func signal(_ entry: Entry, _ signal: Int32) {
        lock.withLock {
            guard entry.isRunning else { return }
            // The group first (the child and what it forked); the pid too, in case it left the group.
            _ = Glibc.kill(-entry.pid, signal)
            _ = Glibc.kill(entry.pid, signal)
        }
    }

    // MARK: - Status

    /// The status of the process named `name`.
    public func status(_ name: String) throws(FaultInjectionError) -> SupervisedProcessStatus {
        guard let status = lock.withLock({ entries[name].map { Self.status(of: $0) } }) else { throw .unknownProcess(name) }
        return status
    }

    /// Every process started, by name.
    public func statuses() -> [SupervisedProcessStatus] {
        lock.withLock { entries.values.map { Self.status(of: $0) }.sorted { $0.name < $1.name } }
    }

    private static func status(of entry: Entry) -> SupervisedProcessStatus {
        SupervisedProcessStatus(name: entry.specification.name, pid: entry.pid, isRunning: entry.isRunning,
                                isPaused: entry.isPaused, termination: entry.termination, logPath: entry.logPath)
    }

    /// Waits until `host:port` accepts TCP connections, polling every 50 ms.
    /// - Throws: `.notReady` (with the log's last lines) if the process exits or the time runs out.
    public func waitForPort(_ name: String, host: String, port: Int, timeoutSeconds: Double = 10) throws(FaultInjectionError) {
        let clock = SystemMonotonicClock()
        let deadline = clock.nanoseconds() + UInt64(timeoutSeconds * 1e9)
        while true {
            let current = try status(name)
            if !current.isRunning {
                throw .notReady(name: name, address: "\(host):\(port)", seconds: timeoutSeconds,
                                detail: "it exited (\(String(describing: current.termination))); log: \(logTail(name))")
            }
            if Sockets.canConnect(host: host, port: port, timeoutMilliseconds: 200) { return }
            if clock.nanoseconds() >= deadline {
                throw .notReady(name: name, address: "\(host):\(port)", seconds: timeoutSeconds, detail: "log: \(logTail(name))")
            }
            usleep(50_000)
        }
    }

    /// The last `bytes` bytes of a process's log (for error messages).
    public func logTail(_ name: String, bytes: Int = 600) -> String {
        guard let path = lock.withLock({ entries[name]?.logPath }),
              let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data.suffix(bytes), as: UTF8.self)
    }

    // MARK: - Spawning and reaping

    private func startReaper(_ entry: Entry, pid: Int32) {
        let thread = Thread { [lock] in
            var status: Int32 = 0
            var result: Int32
            repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
            ChildRegistry.remove(pid)
            lock.withLock {
                // A restart may have replaced the entry's pid already; only this child's fields change.
                if entry.pid == pid {
                    entry.isRunning = false
                    entry.isPaused = false
                    let signal = status & 0x7f
                    entry.termination = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
                }
                lock.broadcast()
            }
        }
        thread.name = "kvlab-reaper-\(pid)"
        thread.start()
    }

    private static func resolve(_ executable: String) -> String? {
        if executable.contains("/") { return FileManager.default.isExecutableFile(atPath: executable) ? executable : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private static func spawnProcess(_ specification: ProcessSpecification, logPath: String) throws(FaultInjectionError) -> Int32 {
        guard let path = resolve(specification.executable) else { throw .spawn(executable: specification.executable, errno: ENOENT) }
        // Open the log here first, so a bad path is a typed error rather than a child that dies at once.
        let probe = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard probe >= 0 else { throw .logFile(path: logPath, errno: errno) }
        _ = Glibc.close(probe)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group; no blocked signals and default dispositions (an ignored SIGPIPE or
        // SIGINT in this process must not leak into a server).
        posix_spawnattr_setpgroup(&attributes, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + specification.arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environmentList: [String]
        if let environment = specification.environment {
            environmentList = environment.map { "\($0.key)=\($0.value)" }.sorted()
        } else {
            environmentList = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }.sorted()
        }
        let envp = environmentList.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }

        var pid: pid_t = 0
        // Registering under the registry's lock with the spawn keeps a signal arriving between
        // the two from missing the child.
        let code = ChildRegistry.spawning {
            let code = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
            return (code, code == 0 ? pid : 0)
        }
        guard code == 0 else { throw .spawn(executable: path, errno: code) }
        return pid
    }

    // MARK: - Signal handling

    /// Installs SIGINT and SIGTERM handlers that SIGKILL every process any supervisor of this
    /// program started, then let the signal end the program as it would have (idempotent).
    public static func installSignalHandlers() {
        ChildRegistry.installSignalHandlers()
    }
}

/// The pids of every live child, in a fixed table a signal handler can read without locks or
/// allocation (a handler may only call async-signal-safe functions: `kill`, `signal`, `raise`).
enum ChildRegistry {
    static let capacity = 4096
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<Int32> = {
        let pointer = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
        return pointer
    }()
    static let lock = Lock()
    nonisolated(unsafe) static var exitHookInstalled = false
    nonisolated(unsafe) static var handlersInstalled = false

    /// Runs a spawn and records the pid it returns, atomically with respect to other spawns.
    static func spawning(_ body: () -> (Int32, pid_t)) -> Int32 {
        lock.withLock {
            let (code, pid) = body()
            if code == 0 {
                for index in 0..<capacity where slots[index] == 0 {
                    slots[index] = pid
                    break
                }
            }
            return code
        }
    }

    static func remove(_ pid: pid_t) {
        lock.withLock {
            for index in 0..<capacity where slots[index] == pid { slots[index] = 0 }
        }
    }

    /// SIGKILL to every recorded child's group; async-signal-safe.
    static func killAll() {
        for index in 0..<capacity {
            let pid = slots[index]
            if pid > 0 {
                _ = Glibc.kill(-pid, SIGKILL)
                _ = Glibc.kill(pid, SIGKILL)
            }
        }
    }

    static func installExitHook() {
        lock.withLock {
            guard !exitHookInstalled else { return }
            exitHookInstalled = true
            atexit { ChildRegistry.killAll() }
        }
    }

    static func installSignalHandlers() {
        lock.withLock {
            guard !handlersInstalled else { return }
            handlersInstalled = true
            // A parent (a test runner, a shell's background job) may hand us these blocked; they
            // must reach the handler. Threads started after this inherit the unblocked mask.
            var unblock = sigset_t()
            sigemptyset(&unblock)
            for signalNumber in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, signalNumber) }
            pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
            for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = { signalNumber in
                    ChildRegistry.killAll()
                    // Die of the same signal, as the program would have without the handler.
                    _ = Glibc.signal(signalNumber, SIG_DFL)
                    _ = Glibc.raise(signalNumber)
                }
                sigemptyset(&action.sa_mask)
                action.sa_flags = 0
                sigaction(signalNumber, &action, nil)
            }
        }
    }
}
