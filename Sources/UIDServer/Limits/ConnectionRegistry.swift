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
        let status: ConnectionStatus
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

    /// Registers a new connection and returns where its watchdog publishes what it is doing; nil
    /// when it must be closed (the cap is reached and every open connection is mid-request). Past
    /// the cap, the connection that never completed a request and has waited longest is closed;
    /// then the longest-idle served one.
    func admit(_ channel: any Channel) -> ConnectionStatus? {
        let victim: (any Channel)?
        let admitted: ConnectionStatus?
        (admitted, victim) = state.withLock { state in
            var victim: (any Channel)?
            if state.entries.count >= maxConnections {
                guard let (id, entry) = Self.leastUseful(state.entries) else {
                    state.refused &+= 1
                    return (nil, nil)
                }
                state.entries[id] = nil
                state.displaced &+= 1
                victim = entry.channel
            }
            let status = ConnectionStatus(since: .now())
            state.entries[ObjectIdentifier(channel)] = Entry(channel: channel, status: status)
            return (status, victim)
        }
        victim?.close(promise: nil)
        return admitted
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.entries.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// The connection whose loss costs least: waiting for a request (or for the rest of a head),
    /// never served before, waiting longest.
    private static func leastUseful(_ entries: [ObjectIdentifier: Entry]) -> (ObjectIdentifier, Entry)? {
        var best: (id: ObjectIdentifier, entry: Entry, status: ConnectionStatus.Snapshot)?
        for (id, entry) in entries {
            let status = entry.status.snapshot
            guard status.phase == .idle || status.phase == .readingHead else { continue }
            guard let current = best?.status else { best = (id, entry, status); continue }
            if (!status.served && current.served) || (status.served == current.served && status.since < current.since) {
                best = (id, entry, status)
            }
        }
        return best.map { ($0.id, $0.entry) }
    }
}
