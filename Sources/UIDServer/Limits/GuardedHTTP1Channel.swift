import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1 channel with the operator's connection limits: each connection is
/// admitted by the registry (or closed at once) and watched by a `ConnectionWatchdog`.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel
    let limits: ConnectionLimits
    let registry: ConnectionRegistry

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, registry: ConnectionRegistry) {
        self.http1 = HTTP1Channel(
            responder: responder, configuration: .init(additionalChannelHandlers: [RequestProgressHandler()])
        )
        self.limits = limits
        self.registry = registry
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Never fails: a failed set-up would end the listener's stream of connections.
        let watchdog = ConnectionWatchdog(limits: limits, registry: registry, status: registry.admit(channel))
        do {
            try channel.pipeline.syncOperations.addHandler(watchdog, position: .first)
        } catch {
            logger.debug("Connection watchdog not installed: \(error)")
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with the operator's connection limits.
    static func guardedHTTP1(limits: ConnectionLimits, registry: ConnectionRegistry) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in GuardedHTTP1Channel(responder: responder, limits: limits, registry: registry) }
    }
}
