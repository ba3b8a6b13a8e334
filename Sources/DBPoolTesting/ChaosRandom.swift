import DBPool

/// A small, fast, seeded pseudo-random number generator (SplitMix64) for reproducible tests.
///
/// The same seed always produces the same sequence, on every platform and in every build, so a
/// randomized test that prints its seed can be replayed exactly. It does not use Foundation or the
/// system's randomness. It is not cryptographically secure.
///
/// ```swift
/// var random = ChaosRandom(seed: 42)
/// let roll = random.next(below: 6)        // 0...5, the same every run with seed 42
/// let coin = random.chance(1, in: 2)      // true about half the time
/// let tenth = Int.random(in: 0..<10, using: &random)   // works with the standard library too
/// ```
public struct ChaosRandom: RandomNumberGenerator, Sendable {
    /// The generator's current state. Two generators with the same state produce the same values.
    public private(set) var state: UInt64

    /// Creates a generator whose sequence is determined by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// A value in `0 ..< bound`. `bound` must be positive.
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0, "ChaosRandom.next(below:): bound must be > 0, got \(bound)")
        return Int(next() % UInt64(bound))
    }

    /// `true` with probability `k / n` (`k` of every `n` draws, on average).
    public mutating func chance(_ k: Int, in n: Int) -> Bool {
        guard k > 0 else { return false }
        guard k < n else { return true }
        return next(below: n) < k
    }

    /// One element of `elements`, chosen uniformly. `elements` must not be empty.
    public mutating func pick<C: RandomAccessCollection>(_ elements: C) -> C.Element {
        precondition(!elements.isEmpty, "ChaosRandom.pick(_:): the collection is empty")
        return elements[elements.index(elements.startIndex, offsetBy: next(below: elements.count))]
    }

    /// A well-distributed seed derived from two values, for example a base seed and a sequence
    /// number, so that each sequence of a test run gets its own independent stream.
    public static func derive(_ base: UInt64, _ index: UInt64) -> UInt64 {
        mix(base &+ mix(index &+ 0x632B_E59B_D9B4_E019))
    }

    /// The SplitMix64 finaliser: a bijective scramble of 64 bits.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How often a fault happens: `k` times in every `n` opportunities, decided by the seeded
/// generator of a ``ChaosDBAPI``.
///
/// ```swift
/// try ChaosRate(1, in: 10)              // about one connect in ten fails
/// try ChaosRate(1, in: 10, seed: 99)    // the same rate, with its own seed
/// ChaosRate.never                   // the default for every fault
/// ChaosRate.always                  // every opportunity
/// ```
///
/// Each fault draws from its own stream of the driver's seed, so faults are independent. Give a
/// rate its own ``seed`` to vary one fault's pattern while every other fault replays exactly.
public struct ChaosRate: Sendable, Equatable, CustomStringConvertible {
    /// How many of every ``n`` opportunities fault. Read-only, so a rate stays valid.
    public let k: Int
    /// The size of the window ``k`` is counted in. Read-only, so a rate stays valid.
    public let n: Int
    /// This fault's own seed; `nil` (default) derives its decisions from the ``ChaosDBAPI``'s seed.
    public var seed: UInt64?

    /// `k` in `n`; `k >= n` means always.
    /// - Parameters:
    ///   - k: how many opportunities in every `n` fault; 0 or more.
    ///   - n: the window; 1 or more.
    ///   - seed: this fault's own seed; `nil` uses the driver's.
    /// - Throws: `PoolError.invalidArgument` naming the parameter, its value and the accepted range.
    public init(_ k: Int, in n: Int, seed: UInt64? = nil) throws {
        guard k >= 0 else { throw PoolError.invalidArgument("ChaosRate: k must be 0 or more, got \(k)") }
        guard n >= 1 else { throw PoolError.invalidArgument("ChaosRate: n must be 1 or more, got \(n)") }
        self.init(checked: k, n, seed: seed)
    }

    /// For the kit's own constant rates, which are valid by construction.
    init(checked k: Int, _ n: Int, seed: UInt64? = nil) {
        self.k = k
        self.n = n
        self.seed = seed
    }

    /// Never faults.
    public static let never = ChaosRate(checked: 0, 1)
    /// Always faults.
    public static let always = ChaosRate(checked: 1, 1)

    /// Whether this rate ever faults.
    public var isNever: Bool { k == 0 }

    /// `"k/n"`, plus ` seed <s>` when the rate has its own seed.
    public var description: String { "\(k)/\(n)" + (seed.map { " seed \($0)" } ?? "") }

    /// Decides one opportunity from a 64-bit random value.
    func fires(_ bits: UInt64) -> Bool {
        guard k > 0 else { return false }
        guard k < n else { return true }
        return bits % UInt64(n) < UInt64(k)
    }
}
