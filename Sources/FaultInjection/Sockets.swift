// Thin wrappers over the BSD socket calls the proxy and the launchers need (IPv4 loopback only).

#if canImport(Glibc)
import Glibc
#endif

// glibc has accept4 and pipe2, but Swift's Glibc module leaves them out (they sit behind
// _GNU_SOURCE). They are declared here because close-on-exec must be set atomically: the
// supervisor spawns children from other threads, and a child must not inherit proxy sockets.
@_silgen_name("accept4")
private func glibcAccept4(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: UnsafeMutablePointer<socklen_t>?, _ flags: Int32) -> Int32
@_silgen_name("pipe2")
private func glibcPipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// Socket helpers shared by the proxy, the supervisor's readiness probe and the launchers.
enum Sockets {
    static func accept4(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: UnsafeMutablePointer<socklen_t>?, _ flags: Int32) -> Int32 {
        glibcAccept4(fd, address, length, flags)
    }

    static func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32 { glibcPipe2(fds, flags) }

    /// An IPv4 socket address for `host` (a dotted quad) and `port`, or nil if `host` is not one.
    static func address(_ host: String, _ port: Int) -> sockaddr_in? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(truncatingIfNeeded: port).bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
        return address
    }

    /// The dotted quad and port of an IPv4 socket address.
    static func describe(_ address: sockaddr_in) -> (host: String, port: Int) {
        var copy = address.sin_addr
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        _ = inet_ntop(AF_INET, &copy, &text, socklen_t(INET_ADDRSTRLEN))
        let bytes = text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return (String(decoding: bytes, as: UTF8.self), Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A new non-blocking, close-on-exec TCP socket (children spawned later must not inherit it).
    static func tcpSocket() -> Int32 {
        socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    static func bind(_ fd: Int32, _ address: sockaddr_in) -> Int32 {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    static func connect(_ fd: Int32, _ address: sockaddr_in) -> Int32 {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// The local address a socket is bound to.
    static func localAddress(_ fd: Int32) -> sockaddr_in {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return address
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Closes with an RST instead of a FIN (SO_LINGER with a zero timeout): the peer's next read
    /// or write fails with ECONNRESET, as after a router's reset or a crashed host.
    static func resetAndClose(_ fd: Int32) {
        guard fd >= 0 else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        _ = Glibc.close(fd)
    }

    /// The pending error of a socket (SO_ERROR), 0 when none: how a non-blocking connect reports.
    static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    /// Binds a listening socket on host:port (port 0 = a free one), returning the fd and the port.
    static func listen(host: String, port: Int) throws(FaultInjectionError) -> (fd: Int32, port: Int) {
        guard let address = address(host, port) else {
            throw .invalidAddress(host, expected: "an IPv4 address such as 127.0.0.1")
        }
        let fd = tcpSocket()
        guard fd >= 0 else { throw .socket(operation: "socket", address: "\(host):\(port)", errno: errno) }
        setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        guard bind(fd, address) == 0 else {
            let code = errno
            _ = Glibc.close(fd)
            throw .socket(operation: "bind", address: "\(host):\(port)", errno: code)
        }
        guard Glibc.listen(fd, 512) == 0 else {
            let code = errno
            _ = Glibc.close(fd)
            throw .socket(operation: "listen", address: "\(host):\(port)", errno: code)
        }
        return (fd, describe(localAddress(fd)).port)
    }

    /// True if a TCP connection to host:port completes within `timeoutMilliseconds`.
    static func canConnect(host: String, port: Int, timeoutMilliseconds: Int32 = 500) -> Bool {
        guard let address = address(host, port) else { return false }
        let fd = tcpSocket()
        guard fd >= 0 else { return false }
        defer { _ = Glibc.close(fd) }
        if connect(fd, address) == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&descriptor, 1, timeoutMilliseconds) == 1 else { return false }
        return pendingError(fd) == 0
    }

    /// A port on `host` that nothing listens on right now (bound, then released).
    static func freePort(host: String) throws(FaultInjectionError) -> Int {
        let (fd, port) = try listen(host: host, port: 0)
        _ = Glibc.close(fd)
        return port
    }
}

/// Errors of the fault-injection module; each names what was asked for and what went wrong.
public enum FaultInjectionError: Error, Equatable, CustomStringConvertible {
    case invalidAddress(String, expected: String)
    case socket(operation: String, address: String, errno: Int32)
    case unknownParty(String)
    case unknownNode(String)
    case proxyStopped
    case spawn(executable: String, errno: Int32)
    case logFile(path: String, errno: Int32)
    case notReady(name: String, address: String, seconds: Double, detail: String)
    case unknownProcess(String)
    case duplicateName(String)
    case missingTool(String)
    case cluster(String)
    case invalidNemesis(String)

    public var description: String {
        switch self {
        case .invalidAddress(let text, let expected): return "invalid address '\(text)': expected \(expected)"
        case .socket(let operation, let address, let code): return "\(operation) on \(address) failed: \(String(cString: strerror(code)))"
        case .unknownParty(let name): return "unknown party '\(name)': register it with the proxy first"
        case .unknownNode(let name): return "unknown node '\(name)': add a route for it first"
        case .proxyStopped: return "the fault proxy is stopped"
        case .spawn(let executable, let code): return "cannot start \(executable): \(String(cString: strerror(code)))"
        case .logFile(let path, let code): return "cannot open log file \(path): \(String(cString: strerror(code)))"
        case .notReady(let name, let address, let seconds, let detail): return "\(name) did not accept connections on \(address) within \(seconds) s\(detail.isEmpty ? "" : ": \(detail)")"
        case .unknownProcess(let name): return "no supervised process named '\(name)'"
        case .duplicateName(let name): return "'\(name)' is already in use"
        case .missingTool(let text): return text
        case .cluster(let text): return text
        case .invalidNemesis(let text): return "invalid nemesis configuration: \(text)"
        }
    }
}
