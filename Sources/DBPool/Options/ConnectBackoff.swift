/// How a QueuePool spaces out connection attempts while the database keeps refusing them.
///
/// After the first failed connect, further attempts wait `initial`, then twice that, and so on up
/// to `maximum`, each shortened by a random part of up to `jitter` (a fraction), so that many pools
/// do not retry in step. While backing off, at most one attempt runs at a time, checkouts that
/// need a new connection wait in the queue (and time out at their deadline, with the last connect
/// error logged and counted), and the first success ends the backoff. Idle connections are still
/// served throughout.
public struct ConnectBackoff: Sendable, Equatable {
    /// The wait after the first failure. Default 100 ms; > 0. Any larger duration is accepted
    /// (`.seconds(Int64.max)` means, in effect, never retry).
    public var initial: Duration
    /// The longest wait. Default 10 s.
    public var maximum: Duration
    /// The factor between consecutive waits. Default 2.
    public var multiplier: Double
    /// The random fraction (0 to 1) by which a wait may be shortened. Default 0.2.
    public var jitter: Double

    /// Creates a backoff policy.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(10), multiplier: Double = 2, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The wait before the next attempt after `failures` consecutive failures (1 or more).
    /// Never more than `maximum` and never traps, for any value ``validate()`` accepts: growth
    /// stops at the cap, and a wait longer than `Int64` nanoseconds can hold (292 years) is made
    /// from seconds or scaled from `maximum` instead of converted to nanoseconds.
    func delay(afterFailures failures: Int, random: Double) -> Duration {
        let cap = Self.seconds(maximum)
        var delay = Self.seconds(initial)
        for _ in 1..<max(failures, 1) {
            delay *= multiplier
            if delay >= cap { break }
        }
        let shortened = 1 - jitter * random
        // `Duration * Double` goes through a Double, which can round just past `maximum`.
        guard delay < cap else { return min(maximum * shortened, maximum) }
        // Whole nanoseconds while they fit, as before, so ordinary waits stay exact.
        let nanoseconds = delay * shortened * 1e9
        if nanoseconds < Double(Int64.max) { return .nanoseconds(Int64(nanoseconds)) }
        return min(.seconds(delay * shortened), maximum)
    }

    /// `duration` in seconds. Divided, not read through `components`, which traps for more
    /// seconds than an Int64 holds (a `Duration` holds about 1.7e20).
    private static func seconds(_ duration: Duration) -> Double {
        duration / .seconds(1)
    }

    func validate() throws {
        guard initial > .zero else {
            throw PoolError.invalidArgument("connectBackoff.initial must be > 0 seconds; got \(initial)")
        }
        guard maximum >= initial else {
            throw PoolError.invalidArgument("connectBackoff.maximum must be >= connectBackoff.initial (\(initial)); got \(maximum)")
        }
        guard multiplier >= 1, multiplier.isFinite else {
            throw PoolError.invalidArgument("connectBackoff.multiplier must be a finite number >= 1; got \(multiplier)")
        }
        guard (0...1).contains(jitter) else {
            throw PoolError.invalidArgument("connectBackoff.jitter must be between 0 and 1; got \(jitter)")
        }
    }
}
