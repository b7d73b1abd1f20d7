// Real etcd and memcached processes on free loopback ports, in a temporary directory, stopped by their owner.
//
// Kept minimal and self-contained (Foundation `Process`, SIGKILL on stop), so tests and `kvlab`
// commands can start the stores kvlab drives; a generic process supervisor can replace the
// plumbing later without changing these types' surface.

import Foundation
import KVClient

/// Why a store process could not be started.
public enum StoreProcessError: Error, CustomStringConvertible {
    /// The program is not installed (tests fail on this, they do not skip: CI installs it).
    case missingTool(program: String, package: String)
    /// The process did not become ready in time; `log` is the end of its output.
    case notReady(what: String, seconds: Double, log: String)
    /// The process could not be launched, or its directory made.
    case launch(String)

    public var description: String {
        switch self {
        case let .missingTool(program, package): return "\(program) is not installed: install Debian's \(package)"
        case let .notReady(what, seconds, log): return "\(what) was not ready within \(seconds) s\(log.isEmpty ? "" : "; its log ends:\n\(log)")"
        case .launch(let m): return "cannot start: \(m)"
        }
    }
}

/// The path of an installed program, searched in the usual directories.
public func installedTool(_ program: String, package: String) throws(StoreProcessError) -> String {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(program)") {
        return "\(dir)/\(program)"
    }
    throw .missingTool(program: program, package: package)
}

/// A free TCP port on 127.0.0.1 (bound to port 0, read back, released; another process could
/// take it before the store binds it, which is unlikely, and then the start fails visibly).
public func freeLoopbackPort() -> Int {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(s) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// One child process with its output in a log file; `stop()` kills it (SIGKILL) and waits.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` is only started in init and stopped under `lock`.
    let process = Process()
    public let logFile: URL
    private let lock = NSLock()

    init(executable: String, arguments: [String], logFile: URL) throws(StoreProcessError) {
        self.logFile = logFile
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // Appends: a restarted member's log keeps what the earlier run wrote.
        if !FileManager.default.fileExists(atPath: logFile.path) {
            guard FileManager.default.createFile(atPath: logFile.path, contents: nil) else { throw .launch("cannot create \(logFile.path)") }
        }
        guard let handle = try? FileHandle(forWritingTo: logFile) else { throw .launch("cannot open \(logFile.path)") }
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { throw .launch("\(executable): \(error)") }
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` (e.g. SIGSTOP/SIGCONT for pauses).
    public func signal(_ signal: Int32) { if process.isRunning { kill(process.processIdentifier, signal) } }

    /// Kills the process and waits for it (idempotent).
    public func stop() {
        lock.lock(); defer { lock.unlock() }
        if process.isRunning {
            // SIGKILL: nothing in these stores needs a clean shutdown (their data dir is thrown
            // away), and a child may have inherited a mask that blocks SIGTERM. A stopped
            // (SIGSTOP) process dies of SIGKILL too.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// The last `bytes` of the log, for error messages.
    public func logTail(_ bytes: Int = 2000) -> String {
        guard let data = try? Data(contentsOf: logFile) else { return "" }
        return String(decoding: data.suffix(bytes), as: UTF8.self)
    }
}

func makeTemporaryDirectory(_ prefix: String) throws(StoreProcessError) -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))")
    do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
        throw .launch("cannot create \(dir.path): \(error)")
    }
    return dir
}

// MARK: memcached

/// `memcached -l 127.0.0.1 -p PORT -m MB -U 0` (TCP only) on a free port; `stop()` (or deinit) ends it.
public final class MemcachedServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    public let child: ChildProcess

    /// Starts memcached and waits (at most 10 s) until it answers `version`.
    /// - Parameters:
    ///   - memoryMegabytes: `-m`, the item memory.
    ///   - threads: `-t`, worker threads.
    ///   - port: the port (a free one if nil; a restart on the same port names it).
    public init(memoryMegabytes: Int = 256, threads: Int = 4, port: Int? = nil) throws(StoreProcessError) {
        let program = try installedTool("memcached", package: "memcached")
        self.port = port ?? freeLoopbackPort()
        directory = try makeTemporaryDirectory("kvlab-memcached")
        // `-u root`: memcached refuses to run as root without naming a user.
        var arguments = ["-l", "127.0.0.1", "-p", String(self.port), "-m", String(memoryMegabytes), "-U", "0", "-t", String(threads)]
        if getuid() == 0 { arguments += ["-u", "root"] }
        child = try ChildProcess(executable: program, arguments: arguments, logFile: directory.appendingPathComponent("memcached.log"))
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if child.isRunning, let c = try? MemcachedConnection(endpoint: endpoint, settings: ConnectionSettings(ioTimeoutSeconds: 2, connectTimeoutSeconds: 1)) {
                c.close()
                return
            }
            if !child.isRunning { break }
            usleep(20_000)
        }
        let log = child.logTail()
        stop()
        throw .notReady(what: "memcached on port \(self.port)", seconds: 10, log: log)
    }

    deinit { stop() }

    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }
    /// The driver's target URL.
    public var url: String { "memcached://127.0.0.1:\(port)" }

    /// Kills memcached and removes its directory (idempotent).
    public func stop() {
        child.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

// MARK: etcd

/// A cluster of `members` etcd processes (3 by default) on free loopback ports, each with its
/// data directory under one temporary directory; ready once a write through the JSON gateway
/// succeeds (a leader is elected and a quorum answers). `stop()` (or deinit) kills every member
/// and removes the directory.
public final class EtcdCluster: @unchecked Sendable {
    /// One member: its name, client and peer ports, and process (nil after `kill`).
    public final class Member: @unchecked Sendable {
        public let name: String
        public let clientPort: Int
        public let peerPort: Int
        public internal(set) var child: ChildProcess?
        let arguments: [String]
        let logFile: URL

        init(name: String, clientPort: Int, peerPort: Int, arguments: [String], logFile: URL) {
            self.name = name
            self.clientPort = clientPort
            self.peerPort = peerPort
            self.arguments = arguments
            self.logFile = logFile
        }

        public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: clientPort) }
    }

    public let members: [Member]
    public let directory: URL
    let program: String

    /// Starts the members and waits (at most `readySeconds`) for a write to succeed.
    /// - Parameters:
    ///   - heartbeatMilliseconds, electionTimeoutMilliseconds: etcd's `--heartbeat-interval`
    ///     and `--election-timeout` (etcd's defaults 100 and 1000; a loaded two-core machine
    ///     needs no less).
    public init(members count: Int = 3, heartbeatMilliseconds: Int = 100, electionTimeoutMilliseconds: Int = 1000,
                readySeconds: Double = 30) throws(StoreProcessError) {
        program = try installedTool("etcd", package: "etcd-server")
        let directory = try makeTemporaryDirectory("kvlab-etcd")
        self.directory = directory
        var list: [Member] = []
        var used = Set<Int>()
        func port() -> Int {
            var p = freeLoopbackPort()
            while used.contains(p) { p = freeLoopbackPort() }
            used.insert(p)
            return p
        }
        for i in 1...max(1, count) {
            list.append(Member(name: "m\(i)", clientPort: port(), peerPort: port(), arguments: [],
                               logFile: directory.appendingPathComponent("m\(i).log")))
        }
        let initialCluster = list.map { "\($0.name)=http://127.0.0.1:\($0.peerPort)" }.joined(separator: ",")
        members = list.map { m in
            Member(name: m.name, clientPort: m.clientPort, peerPort: m.peerPort, arguments: [
                "--name", m.name,
                "--data-dir", directory.appendingPathComponent(m.name).path,
                "--listen-client-urls", "http://127.0.0.1:\(m.clientPort)",
                "--advertise-client-urls", "http://127.0.0.1:\(m.clientPort)",
                "--listen-peer-urls", "http://127.0.0.1:\(m.peerPort)",
                "--initial-advertise-peer-urls", "http://127.0.0.1:\(m.peerPort)",
                "--initial-cluster", initialCluster,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", directory.lastPathComponent,
                "--heartbeat-interval", String(heartbeatMilliseconds),
                "--election-timeout", String(electionTimeoutMilliseconds),
                "--logger", "zap", "--log-level", "warn",
            ], logFile: m.logFile)
        }
        do {
            for m in members { try start(m) }
            try waitUntilWritable(seconds: readySeconds)
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    /// The driver's target URL naming every member.
    public var url: String { "etcd://" + members.map { "127.0.0.1:\($0.clientPort)" }.joined(separator: ",") }
    public var endpoints: [RedisEndpoint] { members.map(\.endpoint) }

    private func start(_ m: Member) throws(StoreProcessError) {
        let child = try ChildProcess(executable: program, arguments: m.arguments, logFile: m.logFile)
        m.child = child
    }

    /// Waits until a put through any member succeeds.
    public func waitUntilWritable(seconds: Double) throws(StoreProcessError) {
        let deadline = Date().addingTimeInterval(seconds)
        let client = EtcdClient(endpoints: endpoints, settings: ConnectionSettings(ioTimeoutSeconds: 3, connectTimeoutSeconds: 1,
                                                                                 backoff: Backoff(initialSeconds: 0.05, maximumSeconds: 0.2)))
        defer { client.close() }
        while Date() < deadline {
            if (try? client.put(Array("kvlab-ready".utf8), Array("1".utf8))) != nil { return }
            if members.contains(where: { !($0.child?.isRunning ?? false) }) { break }
            usleep(100_000)
        }
        let logs = members.map { "[\($0.name)] " + ($0.child?.logTail(600) ?? "") }.joined(separator: "\n")
        throw .notReady(what: "etcd cluster of \(members.count) on ports \(members.map(\.clientPort))", seconds: seconds, log: logs)
    }

    /// Kills one member (SIGKILL); `restart` brings it back with its data.
    public func kill(_ index: Int) {
        members[index].child?.stop()
        members[index].child = nil
    }

    /// Starts a killed member again on its ports and data directory.
    public func restart(_ index: Int) throws(StoreProcessError) {
        guard members[index].child == nil else { return }
        try start(members[index])
    }

    /// The index of the member that is the leader now, asked of every live member; nil if none answers.
    public func leaderIndex() -> Int? {
        for (i, m) in members.enumerated() where m.child != nil {
            let client = EtcdClient(endpoints: [m.endpoint], settings: ConnectionSettings(ioTimeoutSeconds: 2, connectTimeoutSeconds: 1))
            defer { client.close() }
            guard let status = try? client.status(), status.leader != 0 else { continue }
            if status.leader == status.member { return i }
            // Ask the others who they are.
            for (j, other) in members.enumerated() where j != i && other.child != nil {
                let c = EtcdClient(endpoints: [other.endpoint], settings: ConnectionSettings(ioTimeoutSeconds: 2, connectTimeoutSeconds: 1))
                defer { c.close() }
                if let s = try? c.status(), s.member == status.leader { return j }
            }
        }
        return nil
    }

    /// Kills every member and removes the data directory (idempotent).
    public func stop() {
        for m in members { m.child?.stop() }
        try? FileManager.default.removeItem(at: directory)
    }
}
