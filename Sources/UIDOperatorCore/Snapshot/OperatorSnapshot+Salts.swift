import UIDProtocol

/// Folding the salt table's overlay of changed buckets (see `SaltTable.replace`) into its flat
/// arrays, the way the opt-out overlay is folded: built on a background task from one snapshot,
/// then taken over by the snapshot current by then.
extension OperatorSnapshot {
    /// Past this many changed buckets (about 10 MB of overlay), `StoreSync` folds them into the
    /// table's arrays. A daily run at 1,048,576 buckets changes about 35,000 (a 30th falls due),
    /// so such a table is folded after each run; a smaller one after several.
    public static let changedSaltBucketLimit = 32_768

    /// The salt table with its overlay folded in: O(n), for a background task.
    public func foldingChangedSalts() -> SaltTable {
        salts.foldingChanges()
    }

    /// Takes over `folded`, built by `foldingChangedSalts` on `source`. Unchanged when the salts
    /// are no longer `source`'s (a reload came first): the fold is then simply not used.
    public func adoptingFoldedSalts(_ folded: SaltTable, from source: OperatorSnapshot) -> OperatorSnapshot {
        guard salts.isIdentical(to: source.salts) else { return self }
        return OperatorSnapshot(
            config: config, keys: keys, salts: folded, clients: clients, sites: sites, keypairs: keypairs,
            optOuts: optOuts, recentOptOuts: recentOptOuts, testIdentities: testIdentities, bucketIDEncoder: bucketIDEncoder
        )
    }
}
