import NIOCore
import Synchronization

/// Every open connection and what it is doing, across event loops, so that the cap can be kept
/// by displacing connections that are not serving anyone rather than by refusing everyone.
public final class ConnectionRegistry: Sendable {
    public enum Phase: Sendable {
        /// No request in progress (a new connection, or between keep-alive requests).
        case idle
        /// Bytes of a request have arrived; its head is not complete yet.
        case readingHead
        case readingBody
        /// The request is read; the operator is answering.
        case responding
    }

    struct Entry {
        let channel: any Channel
        var phase: Phase
        var since: NIODeadline
        /// Whether a request was ever answered on it: such clients are displaced last.
        var served: Bool
    }

    struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var displaced = 0
        var refused = 0
    }

    public let maxConnections: Int
    private let state = Mutex(State())

    public init(maxConnections: Int) {
        self.maxConnections = max(1, maxConnections)
    }

    public var openConnections: Int { state.withLock { $0.entries.count } }

    /// Connections closed to make room, and connections refused because none could be.
    public var counters: (displaced: Int, refused: Int) { state.withLock { ($0.displaced, $0.refused) } }

    /// Registers a new connection; false when it must be closed (the cap is reached and every
    /// open connection is mid-request). Past the cap, the connection that never completed a
    /// request and has waited longest is closed; then the longest-idle served one.
    func admit(_ channel: any Channel) -> Bool {
        let victim: (any Channel)?
        let admitted: Bool
        (admitted, victim) = state.withLock { state in
            var victim: (any Channel)?
            if state.entries.count >= maxConnections {
                guard let (id, entry) = Self.leastUseful(state.entries) else {
                    state.refused &+= 1
                    return (false, nil)
                }
                state.entries[id] = nil
                state.displaced &+= 1
                victim = entry.channel
            }
            state.entries[ObjectIdentifier(channel)] = Entry(channel: channel, phase: .idle, since: .now(), served: false)
            return (true, victim)
        }
        victim?.close(promise: nil)
        return admitted
    }

    func update(_ channel: any Channel, phase: Phase, served: Bool) {
        let now = NIODeadline.now()
        state.withLock { state in
            let id = ObjectIdentifier(channel)
            guard var entry = state.entries[id] else { return }
            entry.phase = phase
            entry.since = now
            entry.served = entry.served || served
            state.entries[id] = entry
        }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.entries.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// The connection whose loss costs least: waiting for a request (or for the rest of a head),
    /// never served before, waiting longest.
    private static func leastUseful(_ entries: [ObjectIdentifier: Entry]) -> (ObjectIdentifier, Entry)? {
        var best: (ObjectIdentifier, Entry)?
        for (id, entry) in entries where entry.phase == .idle || entry.phase == .readingHead {
            guard let current = best?.1 else { best = (id, entry); continue }
            if (!entry.served && current.served) || (entry.served == current.served && entry.since < current.since) {
                best = (id, entry)
            }
        }
        return best
    }
}
