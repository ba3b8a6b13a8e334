/// Everything the command line can configure. Defaults are the values a first-time user gets
/// from a bare `swift run dbpool-demo`.
struct DemoOptions: Sendable, Equatable {
    /// Concurrent workers (threads, or tasks with `--async`).
    var workers = 8
    /// `QueuePool` `poolSize`; 0 means no limit.
    var poolSize = 4
    /// `QueuePool` `maxOverflow`; -1 means no limit.
    var maxOverflow = 2
    /// `QueuePool` `timeout` in seconds.
    var timeout = 5.0
    /// How long the workload runs, in seconds.
    var duration = 5.0
    /// Extra time each operation keeps its connection after its SQL, in milliseconds.
    var holdMilliseconds = 0.0
    /// `PoolOptions.recycle` in seconds; `nil` never recycles.
    var recycle: Double?
    /// `PoolOptions.prePing` as requested on the command line; `nil` means "not said", which
    /// ``effectivePrePing`` resolves.
    var prePing: Bool?
    /// Use Swift tasks and `await pool.withConnection` instead of threads.
    var useAsync = false
    /// Run against this PostgreSQL server instead of a temporary SQLite file.
    var postgresURL: String?
    /// Kill connections at random while the workload runs.
    var chaos = false
    /// Show the pool's info-level log (connections created, invalidated, recycled).
    var verbose = false
    /// `--help` was given: print the help and do nothing else.
    var showHelp = false

    /// Pre-ping is on by default only under `--chaos`, because that is where production code
    /// would want it; an explicit `--pre-ping` or `--no-pre-ping` always wins so that the two can
    /// be compared under chaos.
    var effectivePrePing: Bool { prePing ?? chaos }
}

/// A command-line mistake. The message names the flag, the offending value and what would have
/// been accepted; `main` adds "see --help" and exits with status 2.
struct OptionError: Error, CustomStringConvertible {
    var description: String
}

extension DemoOptions {
    /// The upper bound for counts, far above anything useful on one machine, so that a typo such
    /// as `--workers 80000` fails at once instead of starting tens of thousands of threads.
    static let maxCount = 10_000

    /// Parses `arguments` (without the program name). Accepts `--flag value` and `--flag=value`.
    static func parse(_ arguments: [String]) throws(OptionError) -> DemoOptions {
        var options = DemoOptions()
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            let (flag, inlineValue) = split(argument)
            // Reads the flag's value from `--flag=value` or from the next argument.
            func value() throws(OptionError) -> String {
                if let inlineValue { return inlineValue }
                guard let next = remaining.first, !looksLikeFlag(next) else {
                    throw OptionError(description: "\(flag) needs a value (\(valueHint(flag)))")
                }
                remaining.removeFirst()
                return next
            }
            func noValue() throws(OptionError) {
                if let inlineValue {
                    throw OptionError(description: "\(flag) takes no value, got '\(inlineValue)'")
                }
            }
            switch flag {
            case "-h", "--help":
                try noValue()
                options.showHelp = true
            case "--workers":
                options.workers = try integer(flag, value(), in: 1...maxCount)
            case "--pool-size":
                options.poolSize = try integer(flag, value(), in: 0...maxCount)
            case "--overflow", "--max-overflow":
                options.maxOverflow = try integer(flag, value(), in: -1...maxCount)
            case "--timeout":
                options.timeout = try number(flag, value(), allowZero: true)
            case "--duration":
                options.duration = try number(flag, value(), allowZero: false)
            case "--hold":
                options.holdMilliseconds = try number(flag, value(), allowZero: true)
            case "--recycle":
                options.recycle = try number(flag, value(), allowZero: true)
            case "--pre-ping":
                try noValue()
                options.prePing = true
            case "--no-pre-ping":
                try noValue()
                options.prePing = false
            case "--async":
                try noValue()
                options.useAsync = true
            case "--postgres":
                let url = try value()
                guard !url.isEmpty else {
                    throw OptionError(description: "--postgres needs a non-empty URL (\(valueHint(flag)))")
                }
                options.postgresURL = url
            case "--chaos":
                try noValue()
                options.chaos = true
            case "-v", "--verbose":
                try noValue()
                options.verbose = true
            default:
                if looksLikeFlag(argument) {
                    throw OptionError(description: "unknown flag '\(flag)'")
                }
                throw OptionError(description: "unexpected argument '\(argument)' (dbpool-demo takes only flags)")
            }
        }
        return options
    }

    private static func split(_ argument: String) -> (flag: String, value: String?) {
        guard argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") else {
            return (argument, nil)
        }
        return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
    }

    /// A following argument that starts with a dash is taken as the next flag, not as a value,
    /// except for numbers: `--overflow -1` is a value, and `--workers -1` must reach the range
    /// check so that the error says what range is accepted.
    private static func looksLikeFlag(_ argument: String) -> Bool {
        guard argument.hasPrefix("-"), argument.count > 1 else { return false }
        return Double(argument) == nil
    }

    private static func valueHint(_ flag: String) -> String {
        switch flag {
        case "--workers": "an integer from 1 to \(maxCount)"
        case "--pool-size": "an integer from 0 to \(maxCount) (0 means no limit)"
        case "--overflow", "--max-overflow": "an integer from -1 to \(maxCount) (-1 means no limit)"
        case "--timeout", "--recycle": "a number of seconds >= 0, fractions allowed"
        case "--duration": "a number of seconds > 0, fractions allowed"
        case "--hold": "a number of milliseconds >= 0, fractions allowed"
        case "--postgres": "a PostgreSQL URL such as postgresql://user@127.0.0.1:5432/db"
        default: "a value"
        }
    }

    private static func integer(_ flag: String, _ text: String, in range: ClosedRange<Int>) throws(OptionError) -> Int {
        guard let number = Int(text) else {
            throw OptionError(description: "\(flag) expects \(valueHint(flag)), got '\(text)' (not an integer)")
        }
        guard range.contains(number) else {
            throw OptionError(description: "\(flag) expects \(valueHint(flag)), got \(number)")
        }
        return number
    }

    /// The upper bound for any time span (a day, in seconds; the same number for `--hold`'s
    /// milliseconds): more than any demo run needs, and far from overflowing a `Duration`.
    static let maxSeconds = 86_400.0

    private static func number(_ flag: String, _ text: String, allowZero: Bool) throws(OptionError) -> Double {
        guard let number = Double(text), number.isFinite else {
            throw OptionError(description: "\(flag) expects \(valueHint(flag)), got '\(text)' (not a number)")
        }
        guard allowZero ? number >= 0 : number > 0 else {
            throw OptionError(description: "\(flag) expects \(valueHint(flag)), got \(text)")
        }
        guard number <= maxSeconds else {
            throw OptionError(description: "\(flag) expects \(valueHint(flag)) and at most \(Int(maxSeconds)), got \(text)")
        }
        return number
    }

    /// The `--help` text. Every flag with its default.
    static let helpText = """
        dbpool-demo: run a small read/write workload through a DBPool QueuePool and watch the pool.

        USAGE
          swift run dbpool-demo [flags]

        By default the workload runs against a temporary SQLite database file (WAL mode, 5 s busy
        timeout, deleted at exit). Each operation checks a connection out with withConnection and
        runs either a write (BEGIN; INSERT a row, overwriting one of a fixed ring of rows per worker
        so that the table stays small; SELECT COUNT(*); COMMIT) or, one time in four, a read (BEGIN;
        SELECT COUNT(*)) whose transaction the pool's rollback-on-return ends.

        While it runs, a status line on standard error shows elapsed time, operations, ops/s over
        the last second, the pool's checked-out connections, overflow in use, waiting checkouts,
        invalidations and errors. On a terminal it is redrawn in place 4 times a second; otherwise
        a line is printed every second. A summary follows on standard output: operations, errors,
        throughput, checkout wait p50/p99/max, and connections created, invalidated and closed
        (counted with pool event listeners).

        FLAGS
          --workers N          Concurrent workers, 1 to \(maxCount).
                               Default: 8.
          --pool-size N        QueuePool poolSize: connections kept for reuse, 0 to \(maxCount);
                               0 means no limit. Default: 4.
          --overflow N         QueuePool maxOverflow: extra connections made under load and
                               closed when they come back, -1 to \(maxCount); -1 means no limit.
                               Default: 2.
          --timeout SECONDS    How long a checkout waits at the limit before it fails
                               (counted as an error), >= 0. Default: 5.
          --duration SECONDS   How long the workload runs, > 0. Default: 5.
          --hold MS            Keep each connection checked out this many milliseconds after
                               its SQL, as if the application worked with it (Thread.sleep, or
                               Task.sleep with --async); raises contention for the pool, >= 0.
                               Default: 0.
          --recycle SECONDS    Replace connections older than this at checkout, >= 0.
                               Default: never.
          --pre-ping           Test each reused connection with SELECT 1 at checkout and
                               replace it if it is dead. Default: off, but on with --chaos.
          --no-pre-ping        Pre-ping off, also under --chaos (to compare the two).
          --async              Run the workers as Swift tasks that call
                               `try await pool.withConnection` instead of threads.
                               Default: threads.
          --postgres URL       Use this PostgreSQL server instead of SQLite, e.g.
                               postgresql://postgres@127.0.0.1:5432/postgres. The demo
                               creates a table with a unique name and drops it at the end;
                               its pooled connections set application_name 'dbpool-demo'.
                               Default: SQLite.
          --chaos              Kill connections at random moments, about every 0.5 s, to watch
                               the pool recover: workers count the failed operations and keep
                               going. On PostgreSQL a separate admin connection terminates every
                               'dbpool-demo' backend of the database (pg_terminate_backend), in
                               use or idle. On SQLite each strike cuts one connection
                               (simulateDisconnect), either in the middle of an operation, which
                               then fails, or as it goes back to the pool, where pre-ping finds
                               it (without pre-ping the next operation on it fails). Turns
                               pre-ping on unless --no-pre-ping is given. Default: off.
          -v, --verbose        Show the pool's info log (connections created, invalidated,
                               recycled) above the status line. Default: warnings only.
          -h, --help           Show this help.

        Values go in the next argument or after '=' (--workers=16). SECONDS and MS may have
        fractions (--duration 2.5) and are at most \(Int(maxSeconds)).

        EXIT STATUS
          0    the run completed (errors under --chaos are expected and counted)
          1    the database could not be set up, or no operation succeeded
          2    a bad flag or pool configuration
          130  stopped by Ctrl-C, 143 by SIGTERM (cleanup and summary still happen; a hold
               is cut short). A second signal quits at once: it still deletes the temporary
               SQLite files, and the process dies of the signal.

        EXAMPLES
          swift run dbpool-demo --duration 2
          swift run dbpool-demo --workers 16 --pool-size 2 --overflow 0 --timeout 0.5
          swift run dbpool-demo --chaos --no-pre-ping
          swift run dbpool-demo --async --hold 2 --recycle 0.5
          swift run dbpool-demo --chaos --postgres postgresql://postgres@127.0.0.1:5432/postgres
        """
}
