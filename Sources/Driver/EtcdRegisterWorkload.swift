// A CAS-register workload on etcd recorded as a History (read/write/cas on a few keys), for the linearizability checker.

import Foundation
import History
import KVClient
import KVCore

/// Clients that read, write and compare-and-set small integers on a few etcd keys, recording
/// every operation as history events for a `CASRegisterModel` check (partitioned by key).
///
/// - read: a range of the key (linearizable, or serializable as configured); the value read,
///   or `nil` for a missing key. A read that fails is `fail`: it changed nothing.
/// - write: a put of the integer's decimal text.
/// - cas `[old new]`: a transaction comparing the key's value with `old`'s text (or, for
///   `old` = nil, that the key is absent) and putting `new`; `ok` if it succeeded, `fail` if
///   the comparison did not hold.
///
/// A write or cas whose outcome is unknown (the answer was lost, the member could not tell)
/// ends `info`, and its process is retired: the client goes on as a new process (id +
/// `clients`), as in Jepsen, since the old one may still be "in" that operation forever. A
/// request that reached no member, or that etcd refused, is `fail`.
///
/// Events go into one list under a lock, an invocation before its request is sent and a
/// completion after its answer arrives, so the list's order is a real-time order the checker
/// can trust; times (nanoseconds of `clock`) are recorded too.
public struct EtcdRegisterWorkload: Sendable {
    public var clients: Int
    public var keys: Int
    /// Operations each client performs (bounded).
    public var operationsPerClient: Int
    /// The longest the run may take; clients stop early past it.
    public var maximumSeconds: Double
    /// Values written and compared are drawn from `0..<values` (few values: many cas succeed).
    public var values: Int
    public var readConsistency: EtcdReadConsistency
    public var seed: UInt64
    /// Keys are `keyPrefix` + index.
    public var keyPrefix: String
    public var connection: ConnectionSettings
    /// A fault to inject mid-run (kill the leader, say): client 0 calls it once, right after
    /// its `faultAfterOperations`-th operation, so the fault lands among the operations
    /// whatever the machine's speed.
    public var fault: (@Sendable () -> Void)? = nil
    public var faultAfterOperations = 0

    public init(clients: Int = 8, keys: Int = 3, operationsPerClient: Int = 100, maximumSeconds: Double = 60, values: Int = 5,
                readConsistency: EtcdReadConsistency = .linearizable, seed: UInt64 = 1, keyPrefix: String = "kvlab-register-",
                connection: ConnectionSettings = ConnectionSettings(ioTimeoutSeconds: 5, connectTimeoutSeconds: 1)) {
        self.clients = max(1, clients)
        self.keys = max(1, keys)
        self.operationsPerClient = max(0, operationsPerClient)
        self.maximumSeconds = maximumSeconds
        self.values = max(1, values)
        self.readConsistency = readConsistency
        self.seed = seed
        self.keyPrefix = keyPrefix
        self.connection = connection
    }

    /// What a run recorded.
    public struct Outcome: Sendable {
        public var history: History
        /// Operations per outcome, for reports.
        public var ok = 0, fail = 0, info = 0
    }

    /// Runs the clients on their own threads against `endpoints` and returns the history.
    /// Client `i` starts at member `i % endpoints.count`.
    public func run(endpoints: [RedisEndpoint], clock: any ClientClock = SystemClientClock()) -> Outcome {
        let recorder = EventList()
        let deadline = clock.nanoseconds() &+ UInt64(max(0, maximumSeconds) * 1e9)
        let threads = (0..<clients).map { index in
            Thread { [self] in
                runClient(index, endpoints: endpoints, clock: clock, deadline: deadline, recorder: recorder)
            }
        }
        for t in threads { t.stackSize = 1 << 20; t.start() }
        recorder.waitForFinished(clients)
        return recorder.outcome()
    }

    private func runClient(_ index: Int, endpoints: [RedisEndpoint], clock: any ClientClock, deadline: UInt64, recorder: EventList) {
        defer { recorder.finished() }
        var random = SeededRandom(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        let client = EtcdClient(endpoints: endpoints, settings: connection, clock: clock, startingAt: index)
        defer { client.close() }
        var process = index
        for done in 0..<operationsPerClient {
            if clock.nanoseconds() >= deadline { break }
            if index == 0, done == faultAfterOperations, let fault { fault() }
            let k = Int(random.next(below: UInt64(keys)))
            let keyValue = Value.string("\(keyPrefix)\(k)")
            let key = Array("\(keyPrefix)\(k)".utf8)
            let choice = random.next(below: 10)
            func event(_ kind: Event.Kind, _ function: String, _ value: Value) {
                recorder.append(Event(kind, process: process, function: function, key: keyValue, value: value,
                                      time: Int64(clamping: clock.nanoseconds())))
            }
            if choice < 4 {
                event(.invoke, "read", .null)
                do {
                    let kv = try client.range(key, serializable: readConsistency == .serializable).first
                    let read: Value = kv.flatMap { Int64(String(decoding: $0.value, as: UTF8.self)) }.map(Value.integer) ?? .null
                    event(.ok, "read", read)
                } catch {
                    event(.fail, "read", .null)
                }
            } else if choice < 7 {
                let v = Int64(random.next(below: UInt64(values)))
                event(.invoke, "write", .integer(v))
                do {
                    try client.put(key, Array(String(v).utf8))
                    event(.ok, "write", .integer(v))
                } catch {
                    event(error.mayHaveTakenEffect ? .info : .fail, "write", .integer(v))
                    if error.mayHaveTakenEffect { process += clients }
                }
            } else {
                // old = nil one time in `values + 1`: a cas from an absent key.
                let o = random.next(below: UInt64(values + 1))
                let old: Value = o == UInt64(values) ? .null : .integer(Int64(o))
                let new = Int64(random.next(below: UInt64(values)))
                let pair = Value.list([old, .integer(new)])
                event(.invoke, "cas", pair)
                do {
                    let condition: EtcdCondition = old.integer.map { .valueEquals(Array(String($0).utf8)) } ?? .absent
                    let succeeded = try client.compareAndPut(key, condition, Array(String(new).utf8))
                    event(succeeded ? .ok : .fail, "cas", pair)
                } catch {
                    event(error.mayHaveTakenEffect ? .info : .fail, "cas", pair)
                    if error.mayHaveTakenEffect { process += clients }
                }
            }
        }
    }
}

/// The run's events, appended under a lock by every client thread.
final class EventList: @unchecked Sendable {
    // @unchecked: every field is accessed under `condition`'s lock.
    private let condition = NSCondition()
    private var events: [Event] = []
    private var done = 0

    func append(_ event: Event) {
        condition.lock()
        events.append(event)
        condition.unlock()
    }

    func finished() {
        condition.lock()
        done += 1
        condition.broadcast()
        condition.unlock()
    }

    func waitForFinished(_ count: Int) {
        condition.lock()
        while done < count { condition.wait() }
        condition.unlock()
    }

    func outcome() -> EtcdRegisterWorkload.Outcome {
        condition.lock()
        defer { condition.unlock() }
        var result = EtcdRegisterWorkload.Outcome(history: History(events: events))
        for e in events {
            switch e.kind {
            case .ok: result.ok += 1
            case .fail: result.fail += 1
            case .info: result.info += 1
            case .invoke: break
            }
        }
        return result
    }
}
