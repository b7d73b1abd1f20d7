// The generalised harmonic numbers zeta(n, theta) = sum of i^-theta for i in 1...n.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Computes zeta(n, theta), exactly by summation for up to `exactTerms` terms (YCSB's O(n)
/// loop) and beyond that with the Euler-Maclaurin formula for the remaining tail, whose error
/// for a tail starting past 4 million terms is far below double precision. So a custom theta
/// over YCSB's 10^10-item scrambled range takes milliseconds instead of minutes.
public enum Zeta {
    /// Terms summed one by one before switching to Euler-Maclaurin.
    public static let exactTerms: Int64 = 1 << 22

    /// zeta(n, theta).
    public static func of(_ n: Int64, theta: Double) -> Double {
        extend(0, from: 0, to: n, theta: theta)
    }

    /// zeta(to, theta), given `partial` = zeta(from, theta).
    public static func extend(_ partial: Double, from: Int64, to: Int64, theta: Double) -> Double {
        guard to > from else { return partial }
        var sum = partial
        let exactEnd = to - from <= exactTerms ? to : from + exactTerms
        var i = from + 1
        while i <= exactEnd {
            sum += 1 / pow(Double(i), theta)
            i += 1
        }
        if exactEnd < to { sum += tail(after: exactEnd, through: to, theta: theta) }
        return sum
    }

    /// Sum of i^-theta for i in (a, b], by Euler-Maclaurin with terms up to the third derivative.
    static func tail(after a: Int64, through b: Int64, theta: Double) -> Double {
        let x = Double(a), y = Double(b)
        func f(_ t: Double) -> Double { pow(t, -theta) }
        func f1(_ t: Double) -> Double { -theta * pow(t, -theta - 1) }
        func f3(_ t: Double) -> Double { -theta * (theta + 1) * (theta + 2) * pow(t, -theta - 3) }
        let integral = theta == 1 ? log(y) - log(x) : (pow(y, 1 - theta) - pow(x, 1 - theta)) / (1 - theta)
        return integral + (f(y) - f(x)) / 2 + (f1(y) - f1(x)) / 12 - (f3(y) - f3(x)) / 720
    }
}
