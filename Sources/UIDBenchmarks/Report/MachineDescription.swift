import Foundation

/// What the numbers were measured on, for the report's header.
struct MachineDescription {
    let cpuModel: String
    let cores: Int
    let memoryGiB: Double
    let kernel: String
    let swiftVersion: String

    static func current() -> MachineDescription {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last!.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        let kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        return MachineDescription(
            cpuModel: model, cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryGiB: Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30), kernel: kernel,
            swiftVersion: ProcessInfo.processInfo.environment["UID_BENCH_SWIFT_VERSION"] ?? "unknown (run through scripts/bench)"
        )
    }
}
