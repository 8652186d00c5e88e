import Foundation
import UIDOperatorCore
import UIDProtocol

/// What a node pays when a salt run changes buckets: the changed buckets applied to the table it
/// serves (`StoreSync.reload` does this, into the table's overlay), the later fold of the overlay
/// into new flat arrays on the background thread, and rebuilding the whole table the way a full
/// load does. Two runs: 1/365 of the buckets rotated (the rotations alone), and a whole daily run,
/// where a 30th of the buckets falls due and those not rotated get a new `refresh_from`.
struct SaltRotationBenchmark {
    struct Result {
        let buckets: Int
        let changed: Int
        /// Copy of the served table plus `replace` of each rotated bucket, median of the runs.
        let apply: Duration
        let applyRuns: [Duration]
        /// Buckets a whole daily run changes (rotated and rescheduled).
        let dailyRunChanged: Int
        /// The same for a whole daily run, median of the runs.
        let dailyRunApply: Duration
        /// Folding the daily run's overlay into new flat arrays (off the request path), median of the runs.
        let fold: Duration
        /// Appending every bucket into a new table (the parse and network of a full load not included).
        let fullRebuild: Duration
    }

    static func run(buckets: Int, runs: Int) -> Result {
        let table = InitialDataset.newSaltTable(count: buckets, nowMillis: currentMillis())
        var generator = FastRandom(seed: UInt64(buckets))
        let now = currentMillis()
        func rotated(_ position: Int) -> (Int, SaltTable.Entry) {
            let old = table[position]
            let salt = (0..<(old.currentSalt?.count ?? 32)).map { _ in UInt8(truncatingIfNeeded: generator.next() % 64 + 48) }
            return (position, SaltTable.Entry(
                id: old.id, lastUpdatedMillis: now, refreshFromMillis: now + 86_400_000 * 365,
                currentSalt: salt, previousSalt: old.currentSalt
            ))
        }
        func rescheduled(_ position: Int) -> (Int, SaltTable.Entry) {
            var entry = table[position]
            entry.refreshFromMillis += SaltSchedule.cycleDays * SaltSchedule.dayMillis
            return (position, entry)
        }
        // The positions a rotation of 1/365 picks are spread over the table.
        let rotations = stride(from: 0, to: buckets, by: 365).map(rotated)
        // A daily run: a 30th falls due; as many as above rotate, spread over the due ones.
        let due = Array(stride(from: 0, to: buckets, by: Int(SaltSchedule.cycleDays)))
        let every = max(due.count / max(rotations.count, 1), 1)
        let dailyRun = due.enumerated().map { index, position in index % every == 0 ? rotated(position) : rescheduled(position) }

        let clock = ContinuousClock()
        func applying(_ changes: [(Int, SaltTable.Entry)]) -> (median: Duration, runs: [Duration], table: SaltTable) {
            var last = table
            let runs = (0..<max(runs, 1)).map { _ in
                clock.measure {
                    var patched = table
                    for (position, entry) in changes { patched.replace(at: position, with: entry) }
                    last = patched
                }
            }
            return (runs.sorted()[runs.count / 2], runs, last)
        }
        let rotation = applying(rotations)
        let daily = applying(dailyRun)
        let folds = (0..<max(runs, 1)).map { _ in clock.measure { blackHole(daily.table.foldingChanges()) } }
        let fullRebuild = clock.measure {
            var rebuilt = SaltTable(firstLevelSalt: table.firstLevelSalt, idPrefix: table.idPrefix, idSecret: table.idSecret, expectedCount: buckets)
            for position in 0..<buckets { rebuilt.append(table[position]) }
            blackHole(rebuilt)
        }
        return Result(
            buckets: buckets, changed: rotations.count, apply: rotation.median, applyRuns: rotation.runs,
            dailyRunChanged: dailyRun.count, dailyRunApply: daily.median, fold: folds.sorted()[folds.count / 2], fullRebuild: fullRebuild
        )
    }
}
