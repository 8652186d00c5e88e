import Foundation

extension Format {
    /// Durations of a few milliseconds to a few seconds (salt applies).
    static func millis(_ duration: Duration) -> String { String(format: "%.1f ms", duration.seconds * 1_000) }
}
