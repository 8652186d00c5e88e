import Foundation

/// A `uid-operator serve` child process, with its output in a log file and its port read from the
/// line it prints once it listens.
final class OperatorProcess {
    let process = Process()
    let logURL: URL
    private(set) var port = 0
    let launched: ContinuousClock.Instant
    /// From launch to the "serving" line: loading the store and binding the socket.
    private(set) var startupTime: Duration = .zero
    /// Whether the server runs under a wrapper program, whose pid `process` then has.
    let wrapped: Bool

    /// `wrapper` runs the server under another program (a profiler): its pid is then the wrapper's.
    init(binary: URL, dataDirectory: URL, extraArguments: [String] = [], wrapper: [String] = []) throws {
        logURL = dataDirectory.appendingPathComponent("operator.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        let arguments = ["serve", "--data-dir", dataDirectory.path, "--port", "0", "--no-rotation"] + extraArguments
        wrapped = !wrapper.isEmpty
        if let program = wrapper.first {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [program] + wrapper.dropFirst() + [binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        process.standardOutput = log
        process.standardError = log
        launched = ContinuousClock.now
        try process.run()
    }

    /// The server's own figures: under a wrapper, those of the wrapper's child.
    var stats: ProcessStats {
        let pid = process.processIdentifier
        return ProcessStats(pid: wrapped ? Self.children(of: pid).first ?? pid : pid)
    }

    /// Waits for the server to listen; throws with its log if it exits or takes too long.
    func waitUntilServing(timeout: Duration) async throws {
        let deadline = launched + timeout
        while ContinuousClock.now < deadline {
            let log = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
            if let line = log.split(separator: "\n").first(where: { $0.contains("uid-operator serving") }),
               let portText = line.split(separator: ":").last, let port = Int(portText.trimmingCharacters(in: .whitespaces))
            {
                startupTime = ContinuousClock.now - launched
                self.port = port
                return
            }
            guard process.isRunning else { throw BenchmarkFailure("uid-operator exited during start-up:\n\(log)") }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw BenchmarkFailure("uid-operator did not start within \(timeout)")
    }

    /// Waits for a line of the log containing `text`; throws if the server exits or the wait is over.
    @discardableResult
    func waitForLogLine(containing text: String, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let log = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
            if let line = log.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            guard process.isRunning else { throw BenchmarkFailure("uid-operator exited before logging \"\(text)\":\n\(log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchmarkFailure("uid-operator did not log \"\(text)\" within \(timeout)")
    }

    func stop() {
        guard process.isRunning else { return }
        // A wrapper (`perf record`) does not pass the signal on and waits for the server, its
        // child, to exit: the server gets the signal too, or this waits forever.
        let children = wrapped ? Self.children(of: process.processIdentifier) : []
        process.interrupt()
        for child in children { kill(child, SIGINT) }
        process.waitUntilExit()
    }

    /// The direct children of `pid` (Linux's `/proc/PID/task/PID/children`); none when unreadable.
    static func children(of pid: Int32) -> [Int32] {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
    }

    deinit { stop() }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
