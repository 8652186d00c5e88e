import Foundation

/// Runs every scenario against one `uid-operator serve --benchmark-echo-route` process, in one run,
/// and reads the server's CPU time from `/proc` around each measured run.
struct HTTPBenchmark {
    struct Result {
        let scenario: LoadScenario
        let summary: Wrk.Summary
        let serverCPUSeconds: Double
        /// The mean of the echo runs just before and after this one (nil for echo itself).
        var baseline: Baseline?
        /// 1 for an endpoint's first run, 2 for its second, and so on.
        var round = 1

        var cpuMicrosPerRequest: Double { serverCPUSeconds * 1e6 / Double(max(summary.requests, 1)) }
        var itemsPerSecond: Double { summary.requestsPerSecond * Double(scenario.itemsPerRequest) }
    }

    struct Baseline {
        let requestsPerSecond: Double
        let p99Micros: Double
    }

    let operatorBinary: URL
    let fixture: BenchmarkFixture
    let load: Wrk.Load
    let warmupSeconds: Int
    let mapBatchSize: Int
    var only: [String] = []
    var serverWrapper: [String] = []
    /// More `serve` flags (the observability comparison turns metrics off with them).
    var serverArguments: [String] = []
    /// Runs of the endpoints with ratio targets (`LoadScenario.interleaved`).
    var rounds = 1

    func run(progress: (String) -> Void) async throws -> [Result] {
        let wrk = try Wrk(workDirectory: fixture.directory)
        let server = try OperatorProcess(
            binary: operatorBinary, dataDirectory: fixture.directory, extraArguments: ["--benchmark-echo-route"] + serverArguments, wrapper: serverWrapper
        )
        defer { server.stop() }
        try await server.waitUntilServing(timeout: .seconds(serverWrapper.isEmpty ? 120 : 900))
        var results: [Result] = []
        for scenario in LoadScenario.interleaved(mapBatchSize: mapBatchSize, only: only, rounds: rounds) {
            progress(scenario.name)
            let bodies = fixture.directory.appendingPathComponent("bodies.txt")
            try scenario.prepareBodies(fixture, currentMillis()).joined(separator: "\n").write(to: bodies, atomically: true, encoding: .utf8)
            let apiKey = scenario.authenticated ? fixture.credentials.apiKey : nil
            var load = self.load
            if let most = scenario.maxConnections { load.connections = min(load.connections, max(most, load.threads)) }
            if warmupSeconds > 0 {
                var warmup = load
                warmup.seconds = warmupSeconds
                _ = try wrk.run(port: server.port, path: scenario.path, bodies: bodies, apiKey: apiKey, load: warmup)
            }
            guard let cpuBefore = server.stats.cpuSeconds() else { throw BenchmarkFailure("cannot read the server's CPU time") }
            let summary = try wrk.run(port: server.port, path: scenario.path, bodies: bodies, apiKey: apiKey, load: load)
            guard let cpuAfter = server.stats.cpuSeconds() else { throw BenchmarkFailure("the server stopped during \(scenario.name)") }
            // A benchmark of failing requests measures nothing: every answer must be a 200.
            guard summary.requests > 0, summary.statusErrors == 0, summary.socketErrors == 0 else {
                throw BenchmarkFailure("""
                    \(scenario.name): \(summary.requests) requests, \(summary.statusErrors) non-2xx answers, \
                    \(summary.socketErrors) socket errors (server log: \(server.logURL.path))
                    """)
            }
            let round = results.filter { $0.scenario.name == scenario.name }.count + 1
            results.append(Result(scenario: scenario, summary: summary, serverCPUSeconds: cpuAfter - cpuBefore, round: round))
            // wrk stops sending, not the server working: requests still queued (a 5,000-identity map
            // takes a while) would otherwise eat into the next endpoint's run.
            try await waitUntilIdle(server)
        }
        for index in results.indices where !results[index].scenario.isBaseline && index > 0 && index + 1 < results.count {
            let around = [results[index - 1].summary, results[index + 1].summary]
            results[index].baseline = Baseline(
                requestsPerSecond: around.map(\.requestsPerSecond).reduce(0, +) / 2, p99Micros: around.map(\.p99Micros).reduce(0, +) / 2
            )
        }
        return results
    }

    private func waitUntilIdle(_ server: OperatorProcess) async throws {
        var last = server.stats.cpuSeconds() ?? 0
        for _ in 0..<300 {
            try await Task.sleep(for: .milliseconds(100))
            let now = server.stats.cpuSeconds() ?? 0
            if now - last < 0.005 { return }
            last = now
        }
    }
}
