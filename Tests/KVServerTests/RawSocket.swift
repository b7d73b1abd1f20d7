// A plain TCP socket for tests that must send exact bytes and see exact bytes back (or not read
// at all): no client library between the test and the server.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum RawSocketError: Error, CustomStringConvertible {
    case connect(String, Int, Int32)
    case send(Int32)
    var description: String {
        switch self {
        case let .connect(host, port, e): return "connect to \(host):\(port) failed: errno \(e)"
        case let .send(e): return "send failed: errno \(e)"
        }
    }
}

final class RawSocket {
    let fd: Int32

    /// Connects to an IPv4 `host:port`, optionally from `source` (a local address to bind first).
    init(host: String, port: Int, source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = UInt16(port).bigEndian
        let r = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else {
            let e = errno
            Glibc.close(fd)
            throw RawSocketError.connect(host, port, e)
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RawSocketError.send(errno) }
            sent += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads until the peer closes, `limit` bytes arrived, or nothing arrives for `quiet` seconds.
    /// - Returns: the bytes and whether the peer closed the connection.
    func receive(quiet: Double = 0.5, limit: Int = 1 << 20) -> (bytes: [UInt8], closed: Bool) {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var timeout = timeval(tv_sec: Int(quiet), tv_usec: Int(quiet * 1_000_000) % 1_000_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 { out += chunk[..<n]; continue }
            if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return (out, true) }
            return (out, false)
        }
        return (out, false)
    }

    func receiveText(quiet: Double = 0.5) -> (text: String, closed: Bool) {
        let r = receive(quiet: quiet)
        return (String(decoding: r.bytes, as: UTF8.self), r.closed)
    }

    func close() { Glibc.close(fd) }
}

/// The first IPv4 address of this machine outside 127.0.0.0/8, if any (for protected mode).
func nonLoopbackIPv4Address() -> String? {
    var list: UnsafeMutablePointer<ifaddrs>? = nil
    guard getifaddrs(&list) == 0 else { return nil }
    defer { freeifaddrs(list) }
    var p = list
    while let entry = p {
        defer { p = entry.pointee.ifa_next }
        guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
        let ip = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
        let host = UInt32(bigEndian: ip.s_addr)
        if host >> 24 == 127 { continue }
        return "\(host >> 24).\((host >> 16) & 255).\((host >> 8) & 255).\(host & 255)"
    }
    return nil
}
