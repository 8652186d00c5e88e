import NIOCore
import Synchronization

/// What one connection is doing, as its watchdog last published it: phase, since when, and
/// whether it ever answered a request. One atomic word, so publishing (several times per
/// request, on the connection's event loop) takes no lock; the registry reads it only when it
/// must pick a connection to displace.
final class ConnectionStatus: Sendable {
    struct Snapshot: Equatable {
        let phase: ConnectionRegistry.Phase
        let since: NIODeadline
        /// Whether a request was ever answered on it: such clients are displaced last.
        let served: Bool
    }

    /// Uptime nanoseconds with the low three bits replaced: two for the phase, one for `served`.
    private let word: Atomic<UInt64>

    init(since: NIODeadline) {
        word = Atomic(Self.pack(phase: .idle, since: since, served: false))
    }

    var snapshot: Snapshot {
        let value = word.load(ordering: .relaxed)
        let phase: ConnectionRegistry.Phase = switch value & 0b11 {
        case 0: .idle
        case 1: .readingHead
        case 2: .readingBody
        default: .responding
        }
        return Snapshot(phase: phase, since: .uptimeNanoseconds(value & ~0b111), served: value & 0b100 != 0)
    }

    /// Only the connection's own event loop publishes, so a load and a store cannot lose an update.
    func publish(phase: ConnectionRegistry.Phase, since: NIODeadline, served: Bool) {
        let everServed = served || word.load(ordering: .relaxed) & 0b100 != 0
        word.store(Self.pack(phase: phase, since: since, served: everServed), ordering: .relaxed)
    }

    private static func pack(phase: ConnectionRegistry.Phase, since: NIODeadline, served: Bool) -> UInt64 {
        let phaseBits: UInt64 = switch phase {
        case .idle: 0
        case .readingHead: 1
        case .readingBody: 2
        case .responding: 3
        }
        return (since.uptimeNanoseconds & ~0b111) | (served ? 0b100 : 0) | phaseBits
    }
}
