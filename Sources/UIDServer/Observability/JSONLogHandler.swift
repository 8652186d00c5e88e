import Foundation
import Logging

/// One JSON object per line on standard output (`serve --log-format json`): `time`, `level`,
/// `logger`, `message`, then the line's metadata (a request's `request_id` among it).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String
    private let write: @Sendable (Data) -> Void

    public init(label: String, metadataProvider: Logger.MetadataProvider?, write: @escaping @Sendable (Data) -> Void = JSONLogHandler.standardOutput) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    public static let standardOutput: @Sendable (Data) -> Void = { line in
        // One write per line, so lines from concurrent requests do not interleave.
        FileHandle.standardOutput.write(line)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        merged["time"] = .string(UTCDateTime.format(millis: Self.nowMillis()) + "Z")
        merged["level"] = .string(event.level.rawValue)
        merged["logger"] = .string(label)
        merged["message"] = .string(event.message.description)
        var line = JSONLogLine(capacity: 256)
        line.object(merged)
        write(Data(line.bytes))
    }

    private static func nowMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) &* 1000 &+ Int64(now.tv_nsec) / 1_000_000
    }
}

extension RequestObservation {
    /// Adds `request_id` to every line logged while a request runs, whichever logger writes it.
    public static let metadataProvider = Logger.MetadataProvider {
        guard let current = RequestObservation.current else { return [:] }
        return ["request_id": .string(current.requestID)]
    }
}
