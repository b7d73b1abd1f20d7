// The calling thread's CPU time, as a seam: the driver records it around the measured loop.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time consumed by the calling thread.
///
/// The driver reads it when a client thread's measurement starts and when its loop ends, never per
/// operation (a thread CPU clock read is a system call, ~100s of ns). Why a second clock next to the
/// monotonic one: the thread CPU clock stops while the thread is preempted (another process on the
/// core) and, on a paravirtualized guest, while the hypervisor steals the virtual CPU, which is most
/// of the run-to-run noise of wall-clock throughput on a shared machine.
public protocol ThreadCPUClock: Sendable {
    /// CPU nanoseconds the calling thread has used so far; nil where the platform cannot tell.
    func threadCPUNanoseconds() -> UInt64?
}

/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`.
public struct SystemThreadCPUClock: ThreadCPUClock {
    public init() {}

    public func threadCPUNanoseconds() -> UInt64? {
        var ts = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0 else { return nil }
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
