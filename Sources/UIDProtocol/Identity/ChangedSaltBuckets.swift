/// The buckets salt runs changed since a `SaltTable`'s flat arrays were written, each as its latest
/// entry. Small (a daily run changes a 365th of the table), so that applying a run copies this and
/// not the arrays, which stay shared between snapshots until `SaltTable.foldingChanges` rewrites them.
struct ChangedSaltBuckets: Sendable {
    private(set) var entries: [Int: SaltTable.Entry] = [:]
    /// One bit per position, set for the positions in `entries`: a lookup of an unchanged bucket
    /// (nearly every one) costs a load and a test rather than a hash.
    private var marks: [UInt64] = []

    var count: Int { entries.count }

    @inline(__always)
    func entry(at position: Int) -> SaltTable.Entry? {
        let word = position &>> 6
        guard word >= 0, word < marks.count, marks[word] & (1 &<< UInt64(position & 63)) != 0 else { return nil }
        return entries[position]
    }

    /// Records `entry` as the bucket at `position` (not negative), replacing an earlier change there.
    mutating func set(_ entry: SaltTable.Entry, at position: Int) {
        let word = position &>> 6
        guard word >= 0 else { return }
        if word >= marks.count { marks.append(contentsOf: repeatElement(0, count: word + 1 - marks.count)) }
        marks[word] |= 1 &<< UInt64(position & 63)
        entries[position] = entry
    }
}
