import HummingbirdCore
import NIOCore

/// First in a connection's pipeline, so it sees the first byte of each request: closes the
/// connection when a stage outlives its deadline (idle, head, body; see `ConnectionLimits`) and
/// publishes the connection's phase for the registry. `RequestProgressHandler`, after the HTTP
/// decoder, tells it where each request is.
///
/// One timer per connection, re-armed lazily: a phase change only records its deadline, and the
/// timer is moved only when that deadline comes before the armed one. When a request arrives
/// whole in one read, the phases it passes through inside that read arm nothing, so a keep-alive
/// connection schedules no task per request.
final class ConnectionWatchdog: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limits: ConnectionLimits
    private let registry: ConnectionRegistry
    /// Where this connection's phase is published; nil when it was refused.
    private let status: ConnectionStatus?
    private var context: ChannelHandlerContext?
    private var phase = ConnectionRegistry.Phase.idle
    private var openRequests = 0
    /// When the current phase must have ended; nil while answering.
    private var phaseDeadline: NIODeadline?
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture
    /// Inside `channelRead`: phases pass without arming the timer, which is armed once at its end.
    private var reading = false

    init(limits: ConnectionLimits, registry: ConnectionRegistry, status: ConnectionStatus?) {
        self.limits = limits
        self.registry = registry
        self.status = status
    }

    /// Past the cap with every connection busy: answer 503 and close.
    private var refuse: Bool { status == nil }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        guard refuse else {
            enter(.idle, served: false)
            return
        }
        // After the rest of the pipeline is in place; written below the HTTP encoder, so raw. The
        // write side is shut and what the client sends is read and dropped until it closes (or a
        // moment passes): closing with its request unread would reset the connection and lose the 503.
        context.eventLoop.assumeIsolated().execute {
            context.writeAndFlush(NIOAny(ByteBuffer(string: Self.refusal)), promise: nil)
            context.close(mode: .output, promise: nil)
            self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { context.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if refuse, case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private static let refusal =
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 28\r\n"
        + "Connection: close\r\n\r\nToo many open connections.\r\n"

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
        registry.remove(context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        registry.remove(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refuse { return }
        reading = true
        if phase == .idle { enter(.readingHead, served: false) }
        context.fireChannelRead(data)
        reading = false
        armTimer()
    }

    func headReceived() {
        openRequests += 1
        enter(.readingBody, served: false)
    }

    func requestEnded() {
        if phase == .readingBody { enter(.responding, served: false) }
    }

    func responseEnded() {
        openRequests = max(0, openRequests - 1)
        if openRequests == 0 { enter(.idle, served: true) }
    }

    private func enter(_ next: ConnectionRegistry.Phase, served: Bool) {
        phase = next
        let now = NIODeadline.now()
        status?.publish(phase: next, since: now, served: served)
        let timeout: TimeAmount? = switch next {
        case .idle: limits.idleTimeout
        case .readingHead: limits.headerTimeout
        case .readingBody: limits.bodyTimeout
        case .responding: nil
        }
        phaseDeadline = timeout.map { now + $0 }
        if !reading { armTimer() }
    }

    /// Makes sure the timer fires no later than the phase's deadline. A timer that fires earlier
    /// (set for a phase since passed) finds the later deadline and re-arms for it.
    private func armTimer() {
        guard let deadline = phaseDeadline, let context else { return }
        if timer != nil, timerDeadline <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            self?.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = .distantFuture
        guard let deadline = phaseDeadline else { return }
        if deadline <= .now() {
            context?.close(promise: nil)
        } else {
            armTimer()
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = .distantFuture
    }
}

/// After the HTTP decoder: reports request heads and ends, and response ends, to the
/// connection's `ConnectionWatchdog`.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPConnectionStateHandler.InboundIn
    typealias InboundOut = HTTPConnectionStateHandler.InboundIn
    typealias OutboundIn = HTTPConnectionStateHandler.OutboundIn
    typealias OutboundOut = HTTPConnectionStateHandler.OutboundIn

    private var watchdog: ConnectionWatchdog?

    func handlerAdded(context: ChannelHandlerContext) {
        watchdog = try? context.pipeline.syncOperations.handler(type: ConnectionWatchdog.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        watchdog = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: watchdog?.headReceived()
        case .end: watchdog?.requestEnded()
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { watchdog?.responseEnded() }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension ConnectionWatchdog: Sendable {}

@available(*, unavailable)
extension RequestProgressHandler: Sendable {}
