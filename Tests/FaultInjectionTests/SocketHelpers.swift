// Blocking loopback sockets for the proxy tests: an echo server on 127.0.0.K and clients bound to a source address.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum TestSocketError: Error { case failed(String) }

private func ipv4(_ host: String, _ port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    _ = inet_pton(AF_INET, host, &address.sin_addr)
    return address
}

private func withSockaddr<R>(_ address: sockaddr_in, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var address = address
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// An echo server on `host` (a free port): every byte a client sends comes back; a client's FIN
/// is answered with a FIN once everything was echoed.
final class EchoServer: @unchecked Sendable {
    let host: String
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var clients: [Int32] = []
    private var closed = false

    init(host: String) throws {
        self.host = host
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard withSockaddr(ipv4(host, 0), { bind(fd, $0, $1) }) == 0, Glibc.listen(fd, 64) == 0 else {
            throw TestSocketError.failed("echo server cannot listen on \(host)")
        }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            let keep = lock.withLock { () -> Bool in
                if closed { return false }
                clients.append(fd)
                return true
            }
            if !keep { Glibc.close(fd); return }
            Thread {
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n <= 0 { break }
                    var sent = 0
                    while sent < n {
                        let w = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                        if w <= 0 { return }
                        sent += w
                    }
                }
                shutdown(fd, Int32(SHUT_WR))
            }.start()
        }
    }

    func stop() {
        let fds = lock.withLock { () -> [Int32] in
            closed = true
            return clients
        }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
    }
}

/// A blocking TCP client whose socket is bound to `source` before connecting.
final class TestClient {
    let fd: Int32

    init(from source: String, to port: Int, host: String = "127.0.0.1", receiveTimeoutMilliseconds: Int = 5000) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard withSockaddr(ipv4(source, 0), { bind(fd, $0, $1) }) == 0 else {
            Glibc.close(fd)
            throw TestSocketError.failed("cannot bind to \(source)")
        }
        var tv = timeval(tv_sec: receiveTimeoutMilliseconds / 1000, tv_usec: (receiveTimeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard withSockaddr(ipv4(host, port), { connect(fd, $0, $1) }) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TestSocketError.failed("connect to \(host):\(port) from \(source): errno \(code)")
        }
    }

    deinit { Glibc.close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestSocketError.failed("send failed: errno \(errno)") }
            sent += n
        }
    }

    enum ReadResult: Equatable {
        case data(String)
        case endOfFile
        case reset
        case timedOut
        case failed(Int32)
    }

    /// Reads until `count` bytes arrived, the peer closed, or the receive timeout passed.
    func read(count: Int) -> ReadResult {
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while collected.count < count {
            let n = recv(fd, &buffer, min(buffer.count, count - collected.count), 0)
            if n > 0 { collected += buffer[0..<n]; continue }
            if n == 0 { return collected.isEmpty ? .endOfFile : .data(String(decoding: collected, as: UTF8.self)) }
            if errno == ECONNRESET { return .reset }
            if errno == EAGAIN || errno == EWOULDBLOCK { return collected.isEmpty ? .timedOut : .data(String(decoding: collected, as: UTF8.self)) }
            return .failed(errno)
        }
        return .data(String(decoding: collected, as: UTF8.self))
    }

    /// True if nothing is readable within `milliseconds` (the socket stays open and silent).
    func staysSilent(milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, milliseconds) == 0
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
}
