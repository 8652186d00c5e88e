import ArgumentParser
import UIDOperatorCore
import UIDStore

struct SaltCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "salt", abstract: "Rotate salt buckets.", subcommands: [Rotate.self]
    )

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a fraction of the salt buckets new salts; their old salts become the previous ones.",
            discussion: """
                Runs the schedule the operator follows every day (which also runs on its own in `serve`), with this \
                fraction: among the buckets whose refresh_from has passed and that were last rotated at least \
                --min-age-days ago, the oldest are rotated first; the due buckets left alone move to their next \
                30-day mark. Rotated buckets fall due again in 30 days; identity map v3 reports the previous raw UID \
                for 90 days and refresh_from as the time to remap. A run by hand counts as the day's scheduled run.
                """
        )
        @OptionGroup var store: StoreOptions
        @Option(help: "Fraction of all buckets to rotate (0 < f ≤ 1).") var fraction: Double
        @Option(help: "Days since its last rotation before a bucket may rotate again.") var minAgeDays: Int64 = SaltSchedule().minimumAgeDays
        @Flag(help: "Rotate any bucket, due or not and whatever its age, oldest first (breaks the promise made to mappers).") var includeNotDue = false
        @Flag(help: "Print JSON for scripts.") var json = false

        func validate() throws {
            guard fraction > 0, fraction <= 1 else { throw ValidationError("--fraction must be in (0, 1]") }
            guard minAgeDays >= 0 else { throw ValidationError("--min-age-days must not be negative") }
        }

        func run() async throws {
            let store = try await self.store.openForAdministration()
            let now = OperatorClock.system.nowMillis()
            let run = SaltSchedule(fractionPerDay: fraction, minimumAgeDays: minAgeDays).manualRun(nowMillis: now, includeNotDue: includeNotDue)
            let outcome = try await store.rotateSalts(
                nowMillis: run.nowMillis, dueBeforeMillis: run.dueBeforeMillis, skipIfRunSinceMillis: run.skipIfRunSinceMillis, plan: run.plan
            )
            let rotated = outcome?.rotated ?? 0
            let buckets = outcome?.buckets ?? 0
            let requested = SaltSchedule.bucketsPerRun(total: buckets, fraction: fraction)
            try emit(json: json, ["rotated": rotated, "requested": requested, "buckets": buckets, "rescheduled": outcome?.rescheduled ?? 0],
                     human: includeNotDue ? "Rotated \(rotated) of \(buckets) buckets (\(requested) requested)."
                        : "Rotated \(rotated) of \(buckets) buckets (\(requested) requested; only due buckets old enough are eligible).")
        }
    }
}
