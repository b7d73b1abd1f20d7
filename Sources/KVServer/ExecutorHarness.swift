// Random command sequences against a CommandExecutor, with a watchdog and a reference model: the harness that would have caught issue 13's deadlock.

import Dispatch
import KVCore
import RESP
import Synchronization

/// Runs random commands against a `CommandExecutor` (no sockets) and reports the first thing
/// that is wrong: a command that takes longer than the watchdog allows (a hang or deadlock), a
/// malformed reply, an engine error, or a reply that contradicts a small reference model of
/// string keys (GET after SET, INCR, APPEND, DEL, EXPIRE, TTL, EXISTS, FLUSHALL, expiry).
///
/// The grammar draws commands from the executor's whole command table: a command the harness
/// knows gets well-formed arguments most of the time, any command gets random words from a
/// small pool (a few keys, so commands collide on them; numbers; option names) the rest of the
/// time. A manual clock jumps past deadlines, and active-expiry cycles run in between. With
/// `connections > 1`, several connections run at once on their own threads (over the same few
/// keys, to find lock-order deadlocks); the model is then off, since the interleaving is not
/// replayable, but the watchdog still is.
///
/// Everything random comes from the generator passed in, so a seed replays the sequence; the
/// fuzz target passes a generator that reads the fuzzer's bytes.
public struct ExecutorHarness {
    /// What went wrong, with the command that did it.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// Index of the command in its connection's sequence.
        public var step: Int
        public var connection: Int
        public var command: [String]
        public var message: String
        public var description: String {
            "connection \(connection), command #\(step) \(command.map { "'\($0)'" }.joined(separator: " ")): \(message)"
        }
    }

    public let executor: CommandExecutor
    public let clock: ManualWallClock
    /// Longest a command may take before the watchdog reports a hang, in seconds.
    public var watchdogSeconds: Double = 1
    /// Replies the model could predict and did (so a run shows the model was not idle).
    public var checkedReplies: Int { checked.load(ordering: .relaxed) }
    private let checked = Counter()

    final class Counter: Sendable {
        private let value = Atomic<Int>(0)
        func add(_ n: Int) { value.add(n, ordering: .relaxed) }
        func load(ordering: AtomicLoadOrdering) -> Int { value.load(ordering: .relaxed) }
    }

    /// - Parameters:
    ///   - executor: built over `clock`, so the harness can move time.
    public init(executor: CommandExecutor, clock: ManualWallClock) {
        self.executor = executor
        self.clock = clock
    }

    /// Keys every command uses (so types collide), and keys mostly used by the string commands
    /// the model follows (so it has something to check).
    static let keys = ["k0", "k1", "k2", "k3", "k4", "s0", "s1", "s2"]
    static let stringKeys = ["s0", "s1", "s2"]
    static let words = ["NX", "XX", "GT", "LT", "EX", "PX", "EXAT", "PXAT", "KEEPTTL", "GET", "CH", "INCR", "COUNT", "MATCH",
                        "WITHSCORES", "LIMIT", "TYPE", "0", "1", "-1", "2", "10", "100", "1.5", "-inf", "+inf", "abc", "",
                        "9223372036854775807", "-9223372036854775808", "*", "k?", "string", "hash"]

    // MARK: - Reference model

    /// What the model knows of a key: absent, a string (with its deadline), or unknown (another
    /// type, or touched by a command the model does not follow).
    enum Known: Equatable {
        case absent
        case string([UInt8], Int64?)
        case unknown
    }

    struct Model {
        var keys: [String: Known] = Dictionary(uniqueKeysWithValues: ExecutorHarness.keys.map { ($0, Known.absent) })
        /// A FLUSHALL is queued in the open transaction: EXEC empties every key.
        var flushQueued = false
        mutating func expire(now: Int64) {
            for (k, v) in keys { if case .string(_, let d?) = v, d <= now { keys[k] = .absent } }
        }
    }

    // MARK: - Running

    /// Runs `count` commands on each of `connections` connections, drawing from `random`.
    /// - Returns: nil if all went well, else the first failure.
    public func run<G: RandomNumberGenerator>(count: Int, connections: Int = 1, random: inout G) -> Failure? {
        // Each connection gets its own stream, drawn up front from `random` so a seed replays.
        var streams: [[GeneratedCommand]] = []
        var generator = Generator(commandNames: executor.commands.keys.sorted())
        for _ in 0..<connections {
            streams.append((0..<count).map { _ in generator.next(&random) })
        }
        return runStreams(streams, checkModel: connections == 1)
    }

    /// One generated step: a command, or a move of the clock, or an active-expiry cycle.
    enum GeneratedCommand {
        case command([String])
        case advanceClock(Int64)
        case activeExpiry
    }

    /// Runs the streams, one thread each, under the watchdog.
    func runStreams(_ streams: [[GeneratedCommand]], checkModel: Bool) -> Failure? {
        let progress = streams.map { _ in Progress() }
        let failures = Mutex<[Failure]>([])
        let group = DispatchGroup()
        for (index, stream) in streams.enumerated() {
            let p = progress[index]
            let executor = self.executor, clock = self.clock, checked = self.checked
            group.enter()
            Thread.detach {
                defer { group.leave() }
                if let f = Self.runStream(stream, connection: index, executor: executor, clock: clock, checkModel: checkModel,
                                          progress: p, checked: checked) {
                    failures.withLock { $0.append(f) }
                }
                p.finish()
            }
        }
        // The watchdog: a command that has been running longer than allowed is a hang. The
        // hung thread cannot be stopped; it is left blocked and the failure reported.
        let limit = UInt64(watchdogSeconds * 1e9)
        while true {
            if group.wait(timeout: .now() + .milliseconds(20)) == .success { break }
            let now = DispatchTime.now().uptimeNanoseconds
            for (index, p) in progress.enumerated() {
                if let (step, started) = p.current(), now > started + limit, let command = streams[index][step].words {
                    return Failure(step: step, connection: index, command: command,
                                   message: "no reply after \(watchdogSeconds) s (hang or deadlock)")
                }
            }
        }
        return failures.withLock { $0.first }
    }

    /// Where one connection is: the step running and since when (uptime nanoseconds).
    final class Progress: Sendable {
        private let state = Mutex<(step: Int, started: UInt64, done: Bool)>((0, 0, false))
        func begin(_ step: Int) { state.withLock { $0 = (step, DispatchTime.now().uptimeNanoseconds, false) } }
        func end() { state.withLock { $0.started = 0 } }
        func finish() { state.withLock { $0.done = true } }
        func current() -> (Int, UInt64)? { state.withLock { $0.done || $0.started == 0 ? nil : ($0.step, $0.started) } }
    }

    static func runStream(_ stream: [GeneratedCommand], connection: Int, executor: CommandExecutor, clock: ManualWallClock,
                          checkModel: Bool, progress: Progress, checked: Counter) -> Failure? {
        var state = executor.makeConnectionState()
        var model = Model()
        for (step, generated) in stream.enumerated() {
            progress.begin(step)
            defer { progress.end() }
            switch generated {
            case .advanceClock(let ms):
                clock.advance(by: ms)
                model.expire(now: clock.millisecondsSinceEpoch())
            case .activeExpiry:
                executor.activeExpireCycle()
            case .command(let words):
                let wasInTransaction = state.queued != nil
                let reply = executor.execute(words, state: &state)
                if case .error(let message) = reply, message.hasPrefix("kvlab:") || message.hasPrefix("ERR engine error") {
                    return Failure(step: step, connection: connection, command: words, message: message)
                }
                guard checkModel else { continue }
                let queued = wasInTransaction && reply == .simpleString("QUEUED")
                let knownBefore = words.count > 1 ? model.keys[words[1]] : nil
                if let problem = check(words, reply, &model, inTransaction: queued, now: clock.millisecondsSinceEpoch()) {
                    return Failure(step: step, connection: connection, command: words, message: problem)
                }
                if let knownBefore, knownBefore != .unknown, !queued, !reply.isError,
                   ["get", "set", "del", "exists", "incr", "append", "ttl", "pttl", "pexpire", "persist"].contains(words[0].lowercased()) {
                    checked.add(1)
                }
            }
        }
        return nil
    }

    /// Checks `reply` against the model and applies the command to it; a message if they disagree.
    static func check(_ words: [String], _ reply: RESPValue, _ model: inout Model, inTransaction: Bool, now: Int64) -> String? {
        let name = words[0].lowercased()
        let key = words.count > 1 ? words[1] : ""
        let known = model.keys[key] ?? .unknown
        func expect(_ wanted: RESPValue) -> String? { reply == wanted ? nil : "expected \(wanted), got \(reply)" }
        func forget(_ names: [String]) { for n in names where model.keys[n] != nil { model.keys[n] = .unknown } }
        if inTransaction {
            // Queued (`+QUEUED`): the effect shows at EXEC, so what the command names becomes
            // unknown now (only FLUSHALL reaches keys it does not name).
            forget(Array(words.dropFirst()))
            if name.hasPrefix("flush") { model.flushQueued = true }
            return nil
        }
        if name == "exec" || name == "discard" {
            if name == "exec", model.flushQueued, case .array = reply { forget(Array(model.keys.keys)) }
            model.flushQueued = false
        }
        if case .error = reply {
            // A refused command changes nothing.
            return nil
        }
        switch (name, words.count) {
        case ("get", 2):
            switch known {
            case .absent: return expect(.null)
            case .string(let v, _): return expect(.bulkString(v))
            case .unknown: return nil
            }
        case ("set", 3):
            model.keys[key] = .string(Array(words[2].utf8), nil)
            return expect(.simpleString("OK"))
        case ("set", 5) where ["px", "ex"].contains(words[3].lowercased()):
            guard let n = Int64(words[4]), n > 0 else { return nil }
            model.keys[key] = .string(Array(words[2].utf8), now + (words[3].lowercased() == "ex" ? n * 1000 : n))
            return expect(.simpleString("OK"))
        case ("set", 4) where words[3].lowercased() == "nx":
            switch known {
            case .absent:
                model.keys[key] = .string(Array(words[2].utf8), nil)
                return expect(.simpleString("OK"))
            case .string: return expect(.null)
            case .unknown:
                if reply == .simpleString("OK") { model.keys[key] = .string(Array(words[2].utf8), nil) }
                return nil
            }
        case ("del", _), ("unlink", _):
            var removed = 0
            var certain = true
            for k in Set(words.dropFirst()) {
                switch model.keys[k] ?? .unknown {
                case .absent: break
                case .string: removed += 1
                case .unknown: certain = false
                }
                model.keys[k] = .absent
            }
            return certain ? expect(.integer(Int64(removed))) : nil
        case ("exists", 2):
            switch known {
            case .absent: return expect(.integer(0))
            case .string: return expect(.integer(1))
            case .unknown: return nil
            }
        case ("incr", 2):
            guard case .string(let v, let d) = known, let n = Int64(String(decoding: v, as: UTF8.self)), n < Int64.max,
                  String(n) == String(decoding: v, as: UTF8.self) else {
                if case .absent = known {
                    model.keys[key] = .string(Array("1".utf8), nil)
                    return expect(.integer(1))
                }
                forget([key])
                return nil
            }
            model.keys[key] = .string(Array(String(n + 1).utf8), d)
            return expect(.integer(n + 1))
        case ("append", 3):
            switch known {
            case .absent:
                model.keys[key] = .string(Array(words[2].utf8), nil)
                return expect(.integer(Int64(words[2].utf8.count)))
            case .string(let v, let d):
                model.keys[key] = .string(v + Array(words[2].utf8), d)
                return expect(.integer(Int64(v.count + words[2].utf8.count)))
            case .unknown: return nil
            }
        case ("ttl", 2), ("pttl", 2):
            switch known {
            case .absent: return expect(.integer(-2))
            case .string(_, nil): return expect(.integer(-1))
            case .string(_, let d?):
                let remaining = Swift.max(0, d - now)
                return expect(.integer(name == "pttl" ? remaining : (remaining + 500) / 1000))
            case .unknown: return nil
            }
        case ("pexpire", 3):
            guard let ms = Int64(words[2]) else { return nil }
            switch known {
            case .absent: return expect(.integer(0))
            case .string(let v, _):
                model.keys[key] = now + ms <= now ? .absent : .string(v, now + ms)
                return expect(.integer(1))
            case .unknown: return nil
            }
        case ("persist", 2):
            switch known {
            case .absent: return expect(.integer(0))
            case .string(let v, let d):
                model.keys[key] = .string(v, nil)
                return expect(.integer(d == nil ? 0 : 1))
            case .unknown: return nil
            }
        case ("flushall", _), ("flushdb", _):
            // Every key the model has met, not only the harness's own: random words become keys too.
            for k in Array(model.keys.keys) { model.keys[k] = .absent }
            return nil
        default:
            // Anything else may have changed any key it names.
            forget(Array(words.dropFirst()))
            return nil
        }
    }

    // MARK: - The grammar

    struct Generator {
        let commandNames: [String]

        mutating func next<G: RandomNumberGenerator>(_ random: inout G) -> GeneratedCommand {
            func pick(_ n: Int) -> Int { n <= 1 ? 0 : Int(random.next() % UInt64(n)) }
            func key() -> String { ExecutorHarness.keys[pick(ExecutorHarness.keys.count)] }
            func value() -> String { ["v", "1", "41", "-7", "x y", "", "9223372036854775806", "3.5"][pick(8)] }
            func word() -> String { pick(3) == 0 ? key() : ExecutorHarness.words[pick(ExecutorHarness.words.count)] }
            let roll = pick(1000)
            if roll < 15 { return .advanceClock([1, 10, 100, 1000, 5000][pick(5)]) }
            if roll < 20 { return .activeExpiry }
            if roll < 250 {
                // Any command, with random words: the parsing and error paths of the whole table.
                let name = commandNames[pick(commandNames.count)]
                guard !["info", "keys", "scan", "command"].contains(name) || pick(20) == 0 else { return .command(["get", key()]) }
                guard !["quit", "hello", "auth"].contains(name) else { return .command(["ping"]) }
                return .command([name] + (0..<pick(5)).map { _ in word() })
            }
            let ttl = String([1, 5, 50, 200, 1500][pick(5)])
            if roll < 650 {
                // The string commands the model follows, mostly on the string keys.
                let k = pick(4) == 0 ? key() : ExecutorHarness.stringKeys[pick(ExecutorHarness.stringKeys.count)]
                let modelled: [[String]] = [
                    ["get", k], ["get", k], ["set", k, value()], ["set", k, value(), "PX", ttl], ["set", k, value(), "NX"],
                    ["del", k], ["exists", k], ["incr", k], ["append", k, value()], ["ttl", k], ["pttl", k],
                    ["pexpire", k, ttl], ["persist", k],
                ]
                return .command(modelled[pick(modelled.count)])
            }
            let k = key()
            let forms: [[String]] = [
                ["set", k, value(), ["XX", "GET", "KEEPTTL", "NX"][pick(4)], ["GET", "PX", "KEEPTTL"][pick(3)]] + (pick(2) == 0 ? [] : [ttl]),
                ["del", k, key()], ["incrby", k, value()], ["decr", k], ["expire", k, "1", word()],
                ["getset", k, value()], ["getdel", k], ["incrbyfloat", k, "1.5"],
                ["hset", k, "f", value()], ["hmset", k, "f", value(), "g", value()], ["hdel", k, "f"], ["hincrby", k, "f", "3"], ["hget", k, "f"],
                ["zadd", k, "1", "m"], ["zadd", k, value(), "n"], ["zrem", k, "m"], ["zpopmin", k], ["zpopmax", k, "2"],
                ["lpush", k, value()], ["rpush", k, value(), value()], ["lpop", k], ["rpop", k, "2"], ["lrange", k, "0", "-1"],
                ["sadd", k, value()], ["srem", k, value()], ["spop", k], ["smembers", k],
                ["mset", k, value(), key(), value()], ["mget", k, key(), key()], ["rename", k, key()], ["type", k],
                ["multi"], ["exec"], ["discard"], ["watch", k, key()], ["unwatch"], ["dbsize"], ["setex", k, "1", value()],
                ["psetex", k, ttl, value()], ["flushall"],
            ]
            let form = forms[pick(forms.count)]
            // FLUSHALL is rare, so keys live long enough to collide.
            if form == ["flushall"] && pick(20) != 0 { return .command(["exists", k]) }
            return .command(form)
        }
    }
}

extension ExecutorHarness.GeneratedCommand {
    var words: [String]? {
        switch self {
        case .command(let w): w
        case .advanceClock(let ms): ["<clock +\(ms) ms>"]
        case .activeExpiry: ["<active expiry cycle>"]
        }
    }
}

/// A detached thread without Foundation.
enum Thread {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        DispatchQueue.global().async(execute: body)
    }
}
