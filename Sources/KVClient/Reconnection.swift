// Surviving a lost server: a clock seam, exponential backoff, and a connection that reopens itself.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Time as the client sees it: a monotonic "now" and a way to wait. Backoff waits go through
/// it so tests (and a future simulator) can run them on a manual clock.
public protocol ClientClock: Sendable {
    /// Nanoseconds since an arbitrary fixed point; never decreases.
    func nanoseconds() -> UInt64
    /// Returns once `nanoseconds()` has reached `deadline`.
    func sleep(until deadline: UInt64)
}

/// `CLOCK_MONOTONIC` and `nanosleep`.
public struct SystemClientClock: ClientClock {
    public init() {}

    public func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    public func sleep(until deadline: UInt64) {
        var now = nanoseconds()
        while now < deadline {
            let nanos = Int(deadline - now)
            var request = timespec(tv_sec: nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000)
            nanosleep(&request, nil)
            now = nanoseconds()
        }
    }
}

/// Exponential backoff: after the `n`-th consecutive failure, wait `initial × multiplierⁿ⁻¹`,
/// at most `maximum`. No jitter: the driver's threads fail at different moments already, and a
/// deterministic schedule keeps runs comparable.
public struct Backoff: Sendable, Equatable {
    /// The first wait, in seconds.
    public var initialSeconds: Double
    /// The longest wait, in seconds.
    public var maximumSeconds: Double
    /// How much each further failure multiplies the wait.
    public var multiplier: Double

    /// - Parameters: see the properties; the defaults (10 ms doubling up to 1 s) are what the
    ///   driver uses unless told otherwise.
    public init(initialSeconds: Double = 0.01, maximumSeconds: Double = 1, multiplier: Double = 2) {
        self.initialSeconds = max(0, initialSeconds)
        self.maximumSeconds = max(self.initialSeconds, maximumSeconds)
        self.multiplier = max(1, multiplier)
    }

    /// The wait after `failures` consecutive failures (0 failures: no wait), in nanoseconds.
    public func delayNanoseconds(afterFailures failures: Int) -> UInt64 {
        guard failures > 0 else { return 0 }
        var seconds = initialSeconds
        for _ in 1..<min(failures, 64) where seconds < maximumSeconds { seconds *= multiplier }
        return UInt64(min(seconds, maximumSeconds) * 1e9)
    }
}

/// How a client connects: timeouts and the backoff between failed attempts.
public struct ConnectionSettings: Sendable, Equatable {
    /// Send/receive timeout of an open connection, in seconds.
    public var ioTimeoutSeconds: Double
    /// TCP handshake timeout, in seconds (0 = the kernel's own, about two minutes).
    public var connectTimeoutSeconds: Double
    /// Waits between reconnection attempts (and, in a cluster, between retries of TRYAGAIN,
    /// CLUSTERDOWN and LOADING).
    public var backoff: Backoff
    /// The local address outgoing connections bind to (`RESPConnection`'s `sourceHost`);
    /// nil lets the kernel choose.
    public var sourceHost: String?

    public init(ioTimeoutSeconds: Double = 30, connectTimeoutSeconds: Double = RESPConnection.defaultConnectTimeoutSeconds,
                backoff: Backoff = Backoff(), sourceHost: String? = nil) {
        self.ioTimeoutSeconds = ioTimeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.backoff = backoff
        self.sourceHost = sourceHost
    }
}

/// One server connection that reopens itself after it is lost, with backoff.
///
/// `connection()` hands out the open connection; if the last one failed (the server closed
/// it, a read timed out, a reply was malformed), it reconnects first, after a wait that grows by
/// `settings.backoff` with each consecutive failure. The caller reports outcomes: `failed()`
/// when an operation's transport failed, `succeeded()` when a reply arrived (which resets the
/// waits). A caller that fails an operation per failed `connection()` therefore neither
/// freezes on a dead server nor fails operations in a tight loop: each failed operation costs
/// at least the current backoff. Not thread-safe (one driver thread owns it).
public final class ReconnectingConnection: @unchecked Sendable {
    public let endpoint: RedisEndpoint
    let password: String?
    public let settings: ConnectionSettings
    let clock: any ClientClock
    private var current: RESPConnection?
    /// Failed connection attempts since the last success.
    public private(set) var consecutiveFailures = 0
    private var nextAttempt: UInt64 = 0
    /// Connections opened after the first one (tests, reports).
    public private(set) var reconnections = 0
    private var everConnected = false

    /// Connects at once: a server that is not there at the start is a configuration error the
    /// caller should see, not something to wait out.
    public init(endpoint: RedisEndpoint, password: String? = nil, settings: ConnectionSettings = ConnectionSettings(),
                clock: any ClientClock = SystemClientClock()) throws(RESPClientError) {
        self.endpoint = endpoint
        self.password = password
        self.settings = settings
        self.clock = clock
        current = try open()
        everConnected = true
    }

    /// Builds one without connecting; the first `connection()` connects (tests of the schedule).
    public init(unconnected endpoint: RedisEndpoint, password: String? = nil, settings: ConnectionSettings = ConnectionSettings(),
                clock: any ClientClock = SystemClientClock()) {
        self.endpoint = endpoint
        self.password = password
        self.settings = settings
        self.clock = clock
    }

    private func open() throws(RESPClientError) -> RESPConnection {
        try RESPConnection(endpoint: endpoint, password: password, timeoutSeconds: settings.ioTimeoutSeconds,
                           connectTimeoutSeconds: settings.connectTimeoutSeconds, sourceHost: settings.sourceHost)
    }

    /// Whether a connection is open now (no attempt is made).
    public var isConnected: Bool { current?.isOpen ?? false }

    /// The open connection, reconnecting first if it was lost: waits out the backoff, then makes
    /// one attempt. - Throws: that attempt's error (the next call waits longer).
    public func connection() throws(RESPClientError) -> RESPConnection {
        if let c = current, c.isOpen { return c }
        current = nil
        if nextAttempt > 0 { clock.sleep(until: nextAttempt) }
        do {
            let c = try open()
            current = c
            if everConnected { reconnections += 1 }
            everConnected = true
            // The wait schedule restarts only once the new connection has answered something
            // (`succeeded()`): a server that accepts and at once drops clients stays backed off.
            return c
        } catch {
            failed()
            throw error
        }
    }

    /// Records a failed attempt or a lost connection: the next attempt waits longer.
    public func failed() {
        current?.close()
        current = nil
        consecutiveFailures += 1
        nextAttempt = clock.nanoseconds() &+ settings.backoff.delayNanoseconds(afterFailures: consecutiveFailures)
    }

    /// Records that the connection answered: the next loss reconnects at once.
    public func succeeded() {
        consecutiveFailures = 0
        nextAttempt = 0
    }

    /// Closes the connection (a later `connection()` reopens it).
    public func close() {
        current?.close()
        current = nil
    }
}
