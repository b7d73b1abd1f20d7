// Classifying a proxied connection by an HTTP header of its first request, for parties whose outgoing sockets cannot bind a source address.

#if canImport(Glibc)
import Glibc
#endif
import Foundation

extension FaultProxy {
    /// The most bytes read while looking for the end of the first request's headers; a
    /// connection that sends more without a blank line is classified by its source address.
    static let classificationPeekLimit = 16 * 1024

    /// Maps values of the classifying header (`ConnectionClassifier.httpHeader`) to party
    /// addresses (or names registered with `registerParty`): a connection whose first request
    /// carries `header: value` then belongs to the link from that party. Replaces the previous
    /// mapping; open connections already classified are moved to their new link at once (a
    /// `drop` on the new link resets them), so the mapping may be set after the parties
    /// connected, as it must for etcd, whose member ids are known only once it runs.
    /// - Parameter mapping: header value (compared case-insensitively) → party name or address.
    /// - Throws: `.unknownParty` for a party that is neither registered nor an IPv4 address.
    public func setHeaderParties(_ mapping: [String: String]) throws(FaultInjectionError) {
        var resolved: [String: String] = [:]
        for (value, party) in mapping { resolved[value.lowercased()] = try address(ofParty: party) }
        try perform { proxy in
            proxy.headerParties = resolved
            for (id, connection) in proxy.connections {
                guard let value = connection.headerValue, let source = resolved[value] else { continue }
                connection.link = ProxyLink(source: source, destination: connection.route.node)
                if proxy.faults[connection.link] == .drop {
                    connection.reset()
                    proxy.connections[id] = nil
                }
            }
        }
    }

    /// Reads more of a classifying connection's first request; once its headers are complete
    /// (or the peek limit is reached, or the header is absent) fixes its link, applies that
    /// link's fault, and starts forwarding. Returns false when the connection must be reset.
    func classify(_ connection: ProxiedConnection, now: UInt64, buffer: inout [UInt8]) -> Bool {
        let n = buffer.withUnsafeMutableBytes { recv(connection.client, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
        if n == 0 { return false }   // closed before a request: nothing to forward
        if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
        connection.peeked.append(contentsOf: buffer[0..<n])
        let headersEnd = Self.endOfHeaders(connection.peeked)
        guard headersEnd != nil || connection.peeked.count >= Self.classificationPeekLimit else { return true }
        guard case .httpHeader(let name) = connection.route.classifier else { return false }
        if let end = headersEnd {
            connection.headerValue = Self.headerValue(named: name, in: connection.peeked[..<end])?.lowercased()
        }
        if let value = connection.headerValue, let source = headerParties[value] {
            connection.link = ProxyLink(source: source, destination: connection.route.node)
        }
        connection.classifying = false
        let fault = faults[connection.link]
        if fault == .drop { return false }
        connection.toServer.append(connection.peeked, due: now + delayNanoseconds(for: connection.link))
        connection.peeked = []
        // A blackholed link connects to the node when healed (the loop does so for server < 0).
        if fault != .blackhole && !connection.startConnect() { return false }
        return true
    }

    /// The index just past the blank line that ends an HTTP request's headers, if present.
    static func endOfHeaders(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 3..<bytes.count where bytes[i] == 10 && bytes[i - 1] == 13 && bytes[i - 2] == 10 && bytes[i - 3] == 13 {
            return i + 1
        }
        return nil
    }

    /// The value of header `name` (case-insensitive) in an HTTP request head, trimmed.
    static func headerValue(named name: String, in head: ArraySlice<UInt8>) -> String? {
        let text = String(decoding: head, as: UTF8.self)
        let wanted = name.lowercased() + ":"
        for line in text.split(separator: "\r\n").dropFirst() where line.lowercased().hasPrefix(wanted) {
            return line.dropFirst(wanted.count).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}
