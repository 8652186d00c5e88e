import Dispatch
import Foundation
import Testing
import UIDFuzzTargets

/// Every fuzz harness, run on its seeds and on every saved regression input: the harnesses stay
/// buildable and honest in ordinary test runs, and each past finding stays fixed.
@Suite struct FuzzTargetTests {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Regressions")

    /// Targets block their calling thread while the router answers (libFuzzer calls them from a
    /// plain thread), so they run here on a Dispatch thread, never on the test's cooperative pool.
    static func run(_ target: FuzzTarget, _ input: [UInt8]) async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: target.run(input)) }
        }
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func seedsRunWithoutFindings(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        let seeds = target.seeds()
        #expect(!seeds.isEmpty, "a target without seeds starts from nothing")
        for seed in seeds {
            #expect(await Self.run(target, seed) == nil, "seed \(seed.prefix(32))…")
        }
    }

    /// `Regressions/<target>/<name>`: inputs that once crashed the operator or broke a promise.
    @Test(arguments: FuzzTargets.all.map(\.name))
    func savedRegressionsStayFixed(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        let folder = Self.regressions.appendingPathComponent(name)
        let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            #expect(await Self.run(target, bytes) == nil, "\(name)/\(file.lastPathComponent)")
        }
    }

    @Test func everyTargetHasAUniqueName() {
        let names = FuzzTargets.all.map(\.name)
        #expect(Set(names).count == names.count)
    }
}
