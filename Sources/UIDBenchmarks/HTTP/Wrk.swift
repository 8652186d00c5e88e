import Foundation

/// Drives `wrk` (Debian's package) with a Lua script that cycles through prepared bodies and prints
/// its summary as one JSON line.
struct Wrk {
    struct Load {
        var threads = 2
        var connections = 64
        var seconds = 10
    }

    struct Summary: Decodable {
        let requests: Int
        let durationMicros: Double
        let statusErrors: Int
        let socketErrors: Int
        let p50Micros: Double
        let p99Micros: Double

        enum CodingKeys: String, CodingKey {
            case requests, durationMicros = "duration_us", statusErrors = "status_errors", socketErrors = "socket_errors"
            case p50Micros = "p50_us", p99Micros = "p99_us"
        }

        var requestsPerSecond: Double { Double(requests) / (durationMicros / 1e6) }
    }

    static let script = """
        -- Written by uid-bench. Args: request path, file of bodies (one per line), API key or "".
        local prepared = {}
        local index = 0
        function init(args)
          local headers = { ["Content-Type"] = "text/plain" }
          if args[3] ~= nil and args[3] ~= "" then headers["Authorization"] = "Bearer " .. args[3] end
          for line in io.lines(args[2]) do
            prepared[#prepared + 1] = wrk.format("POST", args[1], headers, line)
          end
          index = math.random(#prepared)
        end
        function request()
          index = index % #prepared + 1
          return prepared[index]
        end
        function done(summary, latency, requests)
          local e = summary.errors
          io.write(string.format(
            'WRK-SUMMARY {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\\n',
            summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
            latency:percentile(50), latency:percentile(99)))
        end
        """

    let executable: URL
    let scriptURL: URL

    init(workDirectory: URL) throws {
        guard let found = Self.locate() else {
            throw BenchmarkFailure("wrk is not installed (Debian: apt-get install wrk; scripts/bench installs it)")
        }
        executable = found
        scriptURL = workDirectory.appendingPathComponent("uid-bench.lua")
        try Self.script.write(to: scriptURL, atomically: true, encoding: .utf8)
    }

    static func locate() -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("wrk") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    func run(port: Int, path: String, bodies: URL, apiKey: String?, load: Load) throws -> Summary {
        let process = Process()
        process.executableURL = executable
        process.arguments = [
            "-t\(load.threads)", "-c\(load.connections)", "-d\(load.seconds)s", "--timeout", "10s", "-s", scriptURL.path,
            "http://127.0.0.1:\(port)", "--", path, bodies.path, apiKey ?? "",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0,
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("WRK-SUMMARY ") })
        else { throw BenchmarkFailure("wrk failed on \(path):\n\(text)") }
        return try JSONDecoder().decode(Summary.self, from: Data(line.dropFirst("WRK-SUMMARY ".count).utf8))
    }
}
