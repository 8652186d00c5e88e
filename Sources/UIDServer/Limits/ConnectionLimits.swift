import NIOCore

/// How long a connection may take at each stage of a request, and how many may be open at once.
/// Every stage has a deadline, so a client that goes quiet (or trickles bytes) cannot hold a
/// connection, and the cap stays below the process's descriptor limit.
public struct ConnectionLimits: Sendable, Equatable {
    /// A connection with no request in progress is closed after this long.
    public var idleTimeout: TimeAmount
    /// From a request's first byte until its head (request line and headers) is complete.
    public var headerTimeout: TimeAmount
    /// From a request's head until its body is complete, however the bytes trickle in.
    public var bodyTimeout: TimeAmount
    /// Open connections at most (lowered at start-up to fit the descriptor limit). Past it, a new
    /// connection displaces the one that has waited longest without a request; when every
    /// connection is mid-request, the new one is closed at once.
    public var maxConnections: Int

    public static let defaults = ConnectionLimits(
        idleTimeout: .seconds(60), headerTimeout: .seconds(10), bodyTimeout: .seconds(30), maxConnections: 10_000
    )

    public init(idleTimeout: TimeAmount, headerTimeout: TimeAmount, bodyTimeout: TimeAmount, maxConnections: Int) {
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.maxConnections = maxConnections
    }
}
