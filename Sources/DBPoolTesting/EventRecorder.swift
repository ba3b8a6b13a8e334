import DBPool
import Synchronization

/// Records the pool events it hears, in order, with the interesting parts of their arguments.
///
/// Attach it to a pool's `PoolEvents` and assert on the sequence of event names:
///
/// ```swift
/// let recorder = EventRecorder()
/// recorder.attach(to: pool.events)
/// let fairy = try pool.connect()
/// fairy.close()
/// XCTAssertEqual(recorder.names, ["first_connect", "connect", "checkout", "reset", "checkin"])
/// XCTAssertEqual(recorder.events(named: "reset").first?.resetState,
///                PoolResetState(transactionWasReset: false, terminateOnly: false, asyncioSafe: true))
/// ```
///
/// The names are SQLAlchemy's: `first_connect`, `connect`, `checkout`, `checkin`, `reset`,
/// `invalidate`, `soft_invalidate`, `close`, `detach`, `close_detached` (see ``Kind``).
///
/// The recorder never throws from a listener and never keeps a connection, record or fairy alive:
/// it stores identities (``Event/recordID``, ``Event/fairyID``, ``Event/connectionID``) and
/// descriptions only, so a fairy dropped without `close()` is still returned by its `deinit`.
/// Safe to use from any thread.
public final class EventRecorder: Sendable {
    /// The ten pool events, with SQLAlchemy's event names as raw values.
    public enum Kind: String, Sendable, CaseIterable, Hashable {
        /// `onFirstConnect`.
        case firstConnect = "first_connect"
        /// `onConnect`.
        case connect
        /// `onCheckout`.
        case checkout
        /// `onCheckin`.
        case checkin
        /// `onReset`.
        case reset
        /// `onInvalidate`.
        case invalidate
        /// `onSoftInvalidate`.
        case softInvalidate = "soft_invalidate"
        /// `onClose`.
        case close
        /// `onDetach`.
        case detach
        /// `onCloseDetached`.
        case closeDetached = "close_detached"
    }

    /// One recorded event: its name and what its arguments looked like.
    public struct Event: Sendable, CustomStringConvertible {
        /// The event name, for example `"checkin"`, or a marker added with
        /// ``EventRecorder/record(_:)``.
        public var name: String
        /// `String(describing:)` of the connection argument (`"MockConnection#3"` for a mock);
        /// `nil` when the connection argument was `nil` (a `checkin` after invalidation) or the
        /// entry is a marker.
        public var connectionDescription: String?
        /// ``MockConnection/id`` when the connection argument is a ``MockConnection``, else `nil`.
        public var connectionID: Int?
        /// Whether the connection argument was `nil`. Only a `checkin` of an invalidated record
        /// has a `nil` connection.
        public var connectionWasNil: Bool
        /// The identity of the `ConnectionRecord` argument; `nil` when the event has none
        /// (`close_detached`), or it was `nil` (`reset` of a detached connection).
        public var recordID: ObjectIdentifier?
        /// The identity of the `ConnectionFairy` argument of `checkout`; `nil` for other events.
        public var fairyID: ObjectIdentifier?
        /// The `PoolResetState` of a `reset`; `nil` for other events.
        public var resetState: PoolResetState?
        /// The error argument of `invalidate` or `soft_invalidate`, when there was one.
        public var error: (any Error)?

        /// Creates an event; the recorder does this for you.
        public init(
            name: String,
            connectionDescription: String? = nil,
            connectionID: Int? = nil,
            connectionWasNil: Bool = false,
            recordID: ObjectIdentifier? = nil,
            fairyID: ObjectIdentifier? = nil,
            resetState: PoolResetState? = nil,
            error: (any Error)? = nil
        ) {
            self.name = name
            self.connectionDescription = connectionDescription
            self.connectionID = connectionID
            self.connectionWasNil = connectionWasNil
            self.recordID = recordID
            self.fairyID = fairyID
            self.resetState = resetState
            self.error = error
        }

        /// Whether the event carried a record (always, except `close_detached`, a detached
        /// `reset`, and markers).
        public var hadRecord: Bool { recordID != nil }

        /// A one-line summary for failure messages, for example
        /// `checkin(nil)` or `reset(MockConnection#3, record: nil, transactionWasReset: false, terminateOnly: true)`.
        public var description: String {
            var parts: [String] = []
            if connectionWasNil {
                parts.append("nil")
            } else if let connectionDescription {
                parts.append(connectionDescription)
            }
            if let resetState {
                if recordID == nil { parts.append("record: nil") }
                parts.append("transactionWasReset: \(resetState.transactionWasReset)")
                parts.append("terminateOnly: \(resetState.terminateOnly)")
                parts.append("asyncioSafe: \(resetState.asyncioSafe)")
            }
            if let error { parts.append("error: \(error)") }
            return parts.isEmpty ? name : "\(name)(\(parts.joined(separator: ", ")))"
        }
    }

    private let storage = Guarded<[Event]>([])
    private let log: MockCallLog?

    /// Creates an empty recorder.
    ///
    /// - Parameter log: if given, each event's name is also appended to this log, so that events
    ///   and ``MockDialect`` calls can be asserted as one sequence (`["reset", "R", "checkin"]`).
    public init(log: MockCallLog? = nil) {
        self.log = log
    }

    // MARK: Attaching

    /// Registers a listener for each of the chosen events (all ten by default) on `events`.
    ///
    /// Attach before the first checkout if you want to see `first_connect`. The listeners stay
    /// until you remove them with `events.remove(_:)` using the returned tokens, or the pool
    /// goes away; `pool.recreate()` copies them to the new pool.
    ///
    /// - Parameters:
    ///   - events: the pool's `PoolEvents` (`pool.events`).
    ///   - kinds: which events to record; default all.
    ///   - prepend: register ahead of listeners already there, so the recorder sees each event
    ///     before they run.
    /// - Returns: the tokens of the listeners registered, one per kind.
    @discardableResult
    public func attach<C>(
        to events: PoolEvents<C>, only kinds: Set<Kind> = Set(Kind.allCases), prepend: Bool = false
    ) -> [ListenerToken] {
        var tokens: [ListenerToken] = []
        // Iterate allCases, not the set, so registration order is stable.
        for kind in Kind.allCases where kinds.contains(kind) {
            tokens.append(register(kind, on: events, prepend: prepend))
        }
        return tokens
    }

    private func register<C>(_ kind: Kind, on events: PoolEvents<C>, prepend: Bool) -> ListenerToken {
        let name = kind.rawValue
        switch kind {
        case .firstConnect:
            return events.onFirstConnect(prepend: prepend) { [self] c, r in
                add(Self.event(name, c, r))
            }
        case .connect:
            return events.onConnect(prepend: prepend) { [self] c, r in
                add(Self.event(name, c, r))
            }
        case .checkout:
            return events.onCheckout(prepend: prepend) { [self] c, r, f in
                var e = Self.event(name, c, r)
                e.fairyID = ObjectIdentifier(f)
                add(e)
            }
        case .checkin:
            return events.onCheckin(prepend: prepend) { [self] c, r in
                if let c {
                    add(Self.event(name, c, r))
                } else {
                    add(Event(name: name, connectionWasNil: true, recordID: ObjectIdentifier(r)))
                }
            }
        case .reset:
            return events.onReset(prepend: prepend) { [self] c, r, s in
                var e = Self.event(name, c, r)
                e.resetState = s
                add(e)
            }
        case .invalidate:
            return events.onInvalidate(prepend: prepend) { [self] c, r, error in
                var e = Self.event(name, c, r)
                e.error = error
                add(e)
            }
        case .softInvalidate:
            return events.onSoftInvalidate(prepend: prepend) { [self] c, r, error in
                var e = Self.event(name, c, r)
                e.error = error
                add(e)
            }
        case .close:
            return events.onClose(prepend: prepend) { [self] c, r in
                add(Self.event(name, c, r))
            }
        case .detach:
            return events.onDetach(prepend: prepend) { [self] c, r in
                add(Self.event(name, c, r))
            }
        case .closeDetached:
            return events.onCloseDetached(prepend: prepend) { [self] c in
                add(Self.event(name, c, nil))
            }
        }
    }

    private static func event<C>(_ name: String, _ connection: C, _ record: ConnectionRecord<C>?) -> Event {
        Event(
            name: name,
            connectionDescription: String(describing: connection),
            connectionID: (connection as? MockConnection)?.id,
            recordID: record.map { ObjectIdentifier($0) }
        )
    }

    private func add(_ event: Event) {
        // Append to the log inside the same lock, so the log shows events in the order the
        // recorder stored them. The log never takes this lock, so the nesting cannot deadlock.
        storage.withLock {
            $0.append(event)
            log?.append(event.name)
        }
    }

    // MARK: Reading

    /// Every event recorded so far, in order.
    public var events: [Event] { storage.withLock { $0 } }

    /// The names of the events recorded so far, in order, for example
    /// `["checkout", "reset", "checkin"]`.
    public var names: [String] { storage.withLock { $0.map(\.name) } }

    /// The recorded events with the given name, in order.
    public func events(named name: String) -> [Event] {
        storage.withLock { $0.filter { $0.name == name } }
    }

    /// The recorded events of the given kind, in order.
    public func events(_ kind: Kind) -> [Event] {
        events(named: kind.rawValue)
    }

    /// How many events with the given name have been recorded.
    public func count(of name: String) -> Int {
        storage.withLock { $0.reduce(0) { $0 + ($1.name == name ? 1 : 0) } }
    }

    /// How many events of the given kind have been recorded.
    public func count(_ kind: Kind) -> Int {
        count(of: kind.rawValue)
    }

    /// Appends a marker of your own (for example `"--- second checkout ---"`) to the sequence,
    /// and to the log if the recorder has one.
    public func record(_ name: String) {
        add(Event(name: name))
    }

    /// Forgets everything recorded so far. The listeners stay attached. A shared log is not
    /// cleared; call ``MockCallLog/removeAll()`` for that.
    public func clear() {
        storage.withLock { $0.removeAll() }
    }
}
