import Foundation

enum Format {
    static func count(_ value: Double) -> String {
        let rounded = Int(value.rounded())
        let digits = String(rounded)
        var grouped = ""
        for (offset, character) in digits.reversed().enumerated() {
            if offset > 0, offset % 3 == 0, character != "-" { grouped.append(",") }
            grouped.append(character)
        }
        return String(grouped.reversed())
    }

    static func ratio(_ value: Double) -> String { String(format: "%.2f×", value) }

    static func micros(_ value: Double) -> String {
        value >= 10_000 ? String(format: "%.1f ms", value / 1_000) : String(format: "%.0f µs", value)
    }

    static func nanos(_ value: Double) -> String {
        value >= 10_000 ? String(format: "%.1f µs", value / 1_000) : String(format: "%.0f ns", value)
    }

    static func seconds(_ duration: Duration) -> String { String(format: "%.2f s", duration.seconds) }

    static func bytes(_ value: Int) -> String { String(format: "%.0f MiB", Double(value) / Double(1 << 20)) }
}
