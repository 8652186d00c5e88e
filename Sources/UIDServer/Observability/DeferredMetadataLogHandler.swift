import Logging

/// Keeps a logger's metadata as a plain dictionary and hands it to `Inner` only when a line is
/// written. swift-log's `StreamLogHandler` formats its metadata on every change, and the HTTP
/// framework sets a request id on its logger for every request, logged or not.
public struct DeferredMetadataLogHandler<Inner: LogHandler>: LogHandler {
    private var inner: Inner
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    /// `inner`'s metadata provider moves here; its own metadata stays empty.
    public init(_ inner: Inner) {
        self.inner = inner
        metadataProvider = inner.metadataProvider
        self.inner.metadataProvider = nil
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The line's metadata as `Inner` would have merged it: own, then the provider's, then the line's.
    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata, !explicit.isEmpty { merged.merge(explicit) { _, new in new } }
        var event = event
        event.metadata = merged.isEmpty ? nil : merged
        inner.log(event: event)
    }
}
