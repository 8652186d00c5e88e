import Foundation
import UIDOperatorCore
import UIDProtocol

/// What a node pays when a salt run rotates a 365th of the buckets (the daily run): the changed
/// buckets applied to a copy of the table it serves (`StoreSync.reload` does this), against
/// rebuilding the whole table the way a full load does.
struct SaltRotationBenchmark {
    struct Result {
        let buckets: Int
        let changed: Int
        /// Copy-on-write of the flat table plus `replace` of each changed bucket, median of the runs.
        let apply: Duration
        let applyRuns: [Duration]
        /// Appending every bucket into a new table (the parse and network of a full load not included).
        let fullRebuild: Duration
    }

    static func run(buckets: Int, runs: Int) -> Result {
        let table = InitialDataset.newSaltTable(count: buckets, nowMillis: currentMillis())
        var generator = FastRandom(seed: UInt64(buckets))
        let now = currentMillis()
        // The positions a rotation of 1/365 picks are spread over the table.
        let changes: [(Int, SaltTable.Entry)] = stride(from: 0, to: buckets, by: 365).map { position in
            let old = table[position]
            let salt = (0..<(old.currentSalt?.count ?? 32)).map { _ in UInt8(truncatingIfNeeded: generator.next() % 64 + 48) }
            return (position, SaltTable.Entry(
                id: old.id, lastUpdatedMillis: now, refreshFromMillis: now + 86_400_000 * 365,
                currentSalt: salt, previousSalt: old.currentSalt
            ))
        }
        let clock = ContinuousClock()
        let applyRuns = (0..<max(runs, 1)).map { _ in
            clock.measure {
                var patched = table
                for (position, entry) in changes { patched.replace(at: position, with: entry) }
                blackHole(patched)
            }
        }
        let fullRebuild = clock.measure {
            var rebuilt = SaltTable(firstLevelSalt: table.firstLevelSalt, idPrefix: table.idPrefix, idSecret: table.idSecret, expectedCount: buckets)
            for position in 0..<buckets { rebuilt.append(table[position]) }
            blackHole(rebuilt)
        }
        return Result(buckets: buckets, changed: changes.count, apply: applyRuns.sorted()[applyRuns.count / 2], applyRuns: applyRuns, fullRebuild: fullRebuild)
    }
}
