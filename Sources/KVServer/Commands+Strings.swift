// String commands: GET, SET (EX PX EXAT PXAT KEEPTTL NX XX GET), GETSET, GETDEL, MGET, MSET, INCR/DECR, INCRBYFLOAT, STRLEN, APPEND.

#if canImport(Glibc)
import Glibc
#endif
import KVCore
import RESP

extension CommandExecutor {
    static let wrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"
    static let notInteger = "ERR value is not an integer or out of range"
    static let syntaxError = "ERR syntax error"

    static let stringCommands: [CommandSpec] = [
        CommandSpec(name: "get", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.get($1, &$2, &$3) },
        CommandSpec(name: "set", arity: -3, flags: ["write", "denyoom"], firstKey: 1, lastKey: 1, step: 1) { $0.set($1, &$2, &$3) },
        CommandSpec(name: "mget", arity: -2, flags: ["readonly", "fast"], firstKey: 1, lastKey: -1, step: 1) { $0.mget($1, &$2, &$3) },
        CommandSpec(name: "mset", arity: -3, flags: ["write", "denyoom"], firstKey: 1, lastKey: -1, step: 2) { $0.mset($1, &$2, &$3) },
        CommandSpec(name: "incr", arity: 2, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.incrementBy($1, 1, &$2, &$3) },
        CommandSpec(name: "decr", arity: 2, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.incrementBy($1, -1, &$2, &$3) },
        CommandSpec(name: "incrby", arity: 3, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { e, c, s, r in
            guard let n = Arguments.int64(c, 2) else { r.error(notInteger); return }
            e.incrementBy(c, n, &s, &r)
        },
        CommandSpec(name: "decrby", arity: 3, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { e, c, s, r in
            guard let n = Arguments.int64(c, 2), n != .min else { r.error(notInteger); return }
            e.incrementBy(c, -n, &s, &r)
        },
        CommandSpec(name: "strlen", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.strlen($1, &$2, &$3) },
        CommandSpec(name: "getset", arity: 3, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.getset($1, &$2, &$3) },
        CommandSpec(name: "getdel", arity: 2, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.getdel($1, &$2, &$3) },
        CommandSpec(name: "incrbyfloat", arity: 3, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.incrbyfloat($1, &$2, &$3) },
        CommandSpec(name: "append", arity: 3, flags: ["write", "denyoom"], firstKey: 1, lastKey: 1, step: 1) { $0.append($1, &$2, &$3) },
    ]

    func get(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            let found: Bool? = try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                return try read(key, &state) { header, record in
                    guard header.kind == .string else { return false }
                    reply.bulk(record.payload(header))
                    return true
                }
            }
            switch found {
            case nil: state.pendingMisses += 1; reply.null()
            case false?: reply.error(Self.wrongType)
            case true?: state.pendingHits += 1
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// The options of SET after the key and value.
    struct SetOptions {
        var nx = false, xx = false, get = false, keepTTL = false
        var expiresAt: Int64?
    }

    func parseSetOptions(_ command: RESPCommand, _ reply: inout Reply) -> SetOptions? {
        var o = SetOptions()
        var hasExpiry = false
        var i = 3
        while i < command.count {
            let hasNext = i + 1 < command.count
            if Arguments.matches(command, i, "nx") && !o.xx { o.nx = true }
            else if Arguments.matches(command, i, "xx") && !o.nx { o.xx = true }
            else if Arguments.matches(command, i, "get") { o.get = true }
            else if Arguments.matches(command, i, "keepttl") && !hasExpiry { o.keepTTL = true; hasExpiry = true }
            else if hasNext && !hasExpiry && (Arguments.matches(command, i, "ex") || Arguments.matches(command, i, "px")
                                               || Arguments.matches(command, i, "exat") || Arguments.matches(command, i, "pxat")) {
                guard let n = Arguments.int64(command, i + 1) else { reply.error(Self.notInteger); return nil }
                guard n > 0 else { reply.error("ERR invalid expire time in 'set' command"); return nil }
                let now = clock.millisecondsSinceEpoch()
                let (ms, overflow): (Int64, Bool)
                if Arguments.matches(command, i, "ex") { (ms, overflow) = n.multipliedReportingOverflow(by: 1000) }
                else if Arguments.matches(command, i, "exat") { (ms, overflow) = n.multipliedReportingOverflow(by: 1000) }
                else { (ms, overflow) = (n, false) }
                guard !overflow else { reply.error("ERR invalid expire time in 'set' command"); return nil }
                let relative = Arguments.matches(command, i, "ex") || Arguments.matches(command, i, "px")
                let (deadline, o2) = relative ? now.addingReportingOverflow(ms) : (ms, false)
                guard !o2 else { reply.error("ERR invalid expire time in 'set' command"); return nil }
                o.expiresAt = deadline
                hasExpiry = true
                i += 1
            } else {
                reply.error(Self.syntaxError)
                return nil
            }
            i += 1
        }
        return o
    }

    func set(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        var options = SetOptions()
        if command.count > 3 {
            guard let parsed = parseSetOptions(command, &reply) else { return }
            options = parsed
        }
        let o = options
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                let value = UnsafeRawBufferPointer(rebasing: all[command.ranges[2]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    var expiresAt = o.expiresAt
                    if o.nx || o.xx || o.get || o.keepTTL {
                        let old = try readCopy(key, &state)
                        if o.get, let (h, _) = old, h.kind != .string { reply.error(Self.wrongType); return }
                        let replyOld = { (reply: inout Reply) in
                            if let (h, record) = old { record.withUnsafeBytes { reply.bulk($0.payload(h)) } } else { reply.null() }
                        }
                        if (o.nx && old != nil) || (o.xx && old == nil) {
                            if o.get { replyOld(&reply) } else { reply.null() }
                            return
                        }
                        if o.keepTTL, let (h, _) = old { expiresAt = h.expiresAt }
                        if let (h, _) = old, h.kind == .sortedSet { try removeSortedSetMembers(key, &state) }
                        try writeRecord(key, kind: .string, expiresAt: expiresAt, &state) { $0.append(contentsOf: value) }
                        if o.get { replyOld(&reply) } else { reply.ok() }
                        return
                    }
                    try prepareOverwrite(key, &state)
                    try writeRecord(key, kind: .string, expiresAt: expiresAt, &state) { $0.append(contentsOf: value) }
                    reply.ok()
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// MGET: every key's stripe taken first, so no MSET or DEL is seen half done.
    func mget(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        reply.arrayHeader(command.count - 1)
        // Locking cannot fail; an engine error on one key becomes that element's reply.
        withKeyLocksInfallible(command, 1..<command.count, &state) { state in
            for i in 1..<command.count {
                do throws(EngineError) {
                    let found: Bool? = try command.storage.withBytes { (all) throws(EngineError) in
                        try read(UnsafeRawBufferPointer(rebasing: all[command.ranges[i]]), &state) { header, record in
                            guard header.kind == .string else { return false }
                            reply.bulk(record.payload(header))
                            return true
                        }
                    }
                    if found != true { reply.null() }
                    if found == nil { state.pendingMisses += 1 } else { state.pendingHits += 1 }
                } catch {
                    engineFailed(error, &reply)
                }
            }
        }
    }

    /// MSET: every key's stripe taken first (in stripe order), so the keys change together.
    func mset(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard command.count % 2 == 1 else { reply.error("ERR wrong number of arguments for 'mset' command"); return }
        do {
            try withKeyLocks(command, stride(from: 1, to: command.count, by: 2), &state) { (state) throws(EngineError) in
                try command.storage.withBytes { (all) throws(EngineError) in
                    for i in stride(from: 1, to: command.count, by: 2) {
                        let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[i]])
                        let value = UnsafeRawBufferPointer(rebasing: all[command.ranges[i + 1]])
                        try prepareOverwrite(key, &state)
                        try writeRecord(key, kind: .string, expiresAt: nil, &state) { $0.append(contentsOf: value) }
                    }
                }
            }
            reply.ok()
        } catch {
            engineFailed(error, &reply)
        }
    }

    func incrementBy(_ command: RESPCommand, _ delta: Int64, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    var current: Int64 = 0
                    var expiresAt: Int64? = nil
                    if let (h, record) = try readCopy(key, &state) {
                        guard h.kind == .string else { reply.error(Self.wrongType); return }
                        guard let n = record.withUnsafeBytes({ Arguments.int64($0.payload(h)) }) else { reply.error(Self.notInteger); return }
                        current = n
                        expiresAt = h.expiresAt
                    }
                    let (sum, overflow) = current.addingReportingOverflow(delta)
                    guard !overflow else { reply.error("ERR increment or decrement would overflow"); return }
                    try writeRecord(key, kind: .string, expiresAt: expiresAt, &state) { out in
                        var digits: [UInt8] = []
                        RESPWriter.decimal(sum, &digits)
                        out.append(contentsOf: digits)
                    }
                    reply.integer(sum)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func strlen(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            let length: Int?? = try command.storage.withBytes { (all) throws(EngineError) in
                try read(UnsafeRawBufferPointer(rebasing: all[command.ranges[1]]), &state) { h, record in
                    h.kind == .string ? record.count - h.payloadOffset : nil
                }
            }
            switch length {
            case nil: reply.integer(0)
            case .some(nil): reply.error(Self.wrongType)
            case .some(let n?): reply.integer(n)
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func append(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                let suffix = UnsafeRawBufferPointer(rebasing: all[command.ranges[2]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    var old: [UInt8] = []
                    var expiresAt: Int64? = nil
                    if let (h, record) = try readCopy(key, &state) {
                        guard h.kind == .string else { reply.error(Self.wrongType); return }
                        old = Array(record[h.payloadOffset...])
                        expiresAt = h.expiresAt
                    }
                    guard old.count + suffix.count <= configuration.limits.maxBulkLength else {
                        reply.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
                        return
                    }
                    try writeRecord(key, kind: .string, expiresAt: expiresAt, &state) { out in
                        out.append(contentsOf: old)
                        out.append(contentsOf: suffix)
                    }
                    reply.integer(old.count + suffix.count)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// GETSET key value: SET's GET form, which drops any deadline.
    func getset(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                let value = UnsafeRawBufferPointer(rebasing: all[command.ranges[2]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    let old = try readCopy(key, &state)
                    if let (h, _) = old, h.kind != .string { reply.error(Self.wrongType); return }
                    try writeRecord(key, kind: .string, expiresAt: nil, &state) { $0.append(contentsOf: value) }
                    if let (h, record) = old { record.withUnsafeBytes { reply.bulk($0.payload(h)) } } else { reply.null() }
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func getdel(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    guard let (h, record) = try readCopy(key, &state) else { reply.null(); return }
                    guard h.kind == .string else { reply.error(Self.wrongType); return }
                    try removeRecord(key, header: h, &state)
                    record.withUnsafeBytes { reply.bulk($0.payload(h)) }
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// A long double as Redis's `strtold` reads it: no spaces, the whole text, not NaN.
    static func longDouble(_ raw: [UInt8]) -> Float80? {
        guard !raw.isEmpty, raw.count < 5120, !raw.contains(where: { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0D) || $0 == 0 }) else { return nil }
        guard let text = String(validating: raw, as: UTF8.self), let v = Float80(text), !v.isNaN else { return nil }
        return v
    }

    /// A long double in Redis's human form (`ld2string` with LD_STR_HUMAN): "%.17Lf", then
    /// trailing zeros and a trailing point dropped; "-0" is "0".
    static func humanLongDouble(_ value: Float80) -> String {
        var buffer = [CChar](repeating: 0, count: 5200)
        let n = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.17Lf", $0) }
        var text = String(decoding: buffer.prefix(Int(Swift.max(0, n))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }

    /// INCRBYFLOAT key increment, in long double arithmetic as Redis does (x86_64).
    func incrbyfloat(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard let delta = Self.longDouble(command.argument(2)) else { reply.error("ERR value is not a valid float"); return }
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    var current: Float80 = 0
                    var expiresAt: Int64? = nil
                    if let (h, record) = try readCopy(key, &state) {
                        guard h.kind == .string else { reply.error(Self.wrongType); return }
                        guard let v = Self.longDouble(Array(record[h.payloadOffset...])) else { reply.error("ERR value is not a valid float"); return }
                        current = v
                        expiresAt = h.expiresAt
                    }
                    let sum = current + delta
                    guard sum.isFinite else { reply.error("ERR increment would produce NaN or Infinity"); return }
                    let text = Self.humanLongDouble(sum)
                    try writeRecord(key, kind: .string, expiresAt: expiresAt, &state) { $0.append(contentsOf: text.utf8) }
                    reply.bulk(text)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }
}
