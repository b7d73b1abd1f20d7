// A tiny RESP server whose every answer a test scripts: error replies, dropped connections, silence.
// Real servers cannot be told to answer LOADING or TRYAGAIN on cue; this one can.

import Foundation
import KVClient
import RESP
import Synchronization

/// What the scripted server does with one command.
public enum ScriptedAction: Sendable {
    /// Answer with this value.
    case reply(RESPValue)
    /// Close the connection without answering.
    case close
}

/// A blocking RESP server on 127.0.0.1 (a free port, or the one given): one thread accepts,
/// one thread per connection reads commands and answers with `handler(connection, command)`.
/// `stop()` closes the listener and every connection and joins nothing (the threads end on
/// their own once their sockets are closed).
public final class ScriptedRESPServer: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let handler: @Sendable (Int, [String]) -> ScriptedAction
    private let sockets = Mutex<[Int32]>([])
    private let stopped = Atomic<Bool>(false)
    private let accepted = Atomic<Int>(0)
    private let commandLog = Mutex<[[String]]>([])

    /// Listens and starts accepting.
    /// - Parameter handler: called with the connection's number (0, 1, ... in accept order)
    ///   and the command's arguments as text.
    public init(port: Int = 0, handler: @escaping @Sendable (Int, [String]) -> ScriptedAction) throws {
        self.handler = handler
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(s, 64) == 0 else {
            close(s)
            throw RedisProcessError.notReady("scripted server: cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) } }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        listener = s
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    /// Connections accepted so far.
    public var connectionsAccepted: Int { accepted.load(ordering: .relaxed) }

    /// Every command received so far, in arrival order.
    public var commands: [[String]] { commandLog.withLock { $0 } }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let c = accept(listener, nil, nil)
            if c < 0 { if errno == EINTR { continue } else { return } }
            if stopped.load(ordering: .relaxed) { close(c); return }
            let number = accepted.wrappingAdd(1, ordering: .relaxed).oldValue
            sockets.withLock { $0.append(c) }
            let thread = Thread { [self] in serve(c, number: number) }
            thread.start()
        }
    }

    private func serve(_ c: Int32, number: Int) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let parser = RESPValueParser()
        defer { finish(c) }
        while !stopped.load(ordering: .relaxed) {
            let n = chunk.withUnsafeMutableBytes { recv(c, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return }
            buffer.append(contentsOf: chunk[0..<n])
            while let (value, consumed) = (try? parser.parse(buffer)) ?? nil {
                buffer.removeFirst(consumed)
                let command = value.elements?.map { $0.text ?? "" } ?? []
                commandLog.withLock { $0.append(command) }
                switch handler(number, command) {
                case .close:
                    return
                case .reply(let reply):
                    let bytes = reply.encoded
                    var sent = 0
                    while sent < bytes.count {
                        let w = bytes.withUnsafeBytes { send(c, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
                        if w <= 0 { return }
                        sent += w
                    }
                }
            }
        }
    }

    private func finish(_ c: Int32) {
        let owned = sockets.withLock { list -> Bool in
            guard let i = list.firstIndex(of: c) else { return false }
            list.remove(at: i)
            return true
        }
        if owned { close(c) }
    }

    /// Stops listening and closes every connection.
    public func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        let open = sockets.withLock { list -> [Int32] in let l = list; list = []; return l }
        for c in open { shutdown(c, Int32(SHUT_RDWR)); close(c) }
    }

    deinit { stop() }
}
