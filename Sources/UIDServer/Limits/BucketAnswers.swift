import Synchronization
import UIDOperatorCore
import UIDProtocol

/// `/v2/identity/buckets` answers without redoing per-bucket work: for large answers the public
/// bucket ids (a Hashids encoding each) are computed once per salt table and reused until the
/// salts change.
/// An old `since_timestamp` still gets every bucket, as the reference answers it, but the
/// answer is written straight into bytes on the batch pool, one at a time per pool thread.
final class BucketAnswers: Sendable {
    static let shared = BucketAnswers()

    /// What identifies a salt table's bucket ids and times: a rotation always moves a bucket's
    /// `last_updated`, so a hash over them changes with any salt run.
    struct Fingerprint: Equatable {
        let count: Int
        let idPrefix: String
        let idSecret: String
        let lastUpdatedHash: Int64
        let idSum: Int64

        init(_ salts: SaltTable) {
            var lastUpdatedHash: Int64 = 0
            var idSum: Int64 = 0
            for position in 0..<salts.count {
                lastUpdatedHash = lastUpdatedHash &* 31 &+ salts.lastUpdatedMillis(at: position)
                idSum = idSum &+ salts.bucketID(at: position)
            }
            self.count = salts.count
            self.idPrefix = salts.idPrefix
            self.idSecret = salts.idSecret
            self.lastUpdatedHash = lastUpdatedHash
            self.idSum = idSum
        }
    }

    private struct Cached {
        let fingerprint: Fingerprint
        let publicIDs: [String]
    }

    private let cached = Mutex<Cached?>(nil)

    /// Answers listing more buckets than this use (and build) the cache.
    let cacheThreshold: Int

    init(cacheThreshold: Int = 10_000) {
        self.cacheThreshold = cacheThreshold
    }

    /// Public ids by salt position for `snapshot`'s table.
    func publicIDs(for snapshot: OperatorSnapshot) -> [String] {
        let fingerprint = Fingerprint(snapshot.salts)
        if let hit = cached.withLock({ $0?.fingerprint == fingerprint ? $0?.publicIDs : nil }) { return hit }
        let salts = snapshot.salts
        let ids = (0..<salts.count).map { snapshot.publicBucketID(salts.bucketID(at: $0)) }
        cached.withLock { $0 = Cached(fingerprint: fingerprint, publicIDs: ids) }
        return ids
    }

    /// `{"status":"success","body":[{"bucket_id":…,"last_updated":…},…]}` for the buckets rotated
    /// at or after `sinceMillis`, in table order.
    func responseJSON(for snapshot: OperatorSnapshot, sinceMillis: Int64) -> [UInt8] {
        let salts = snapshot.salts
        var matching = 0
        for position in 0..<salts.count where salts.lastUpdatedMillis(at: position) >= sinceMillis { matching += 1 }
        // A few buckets (a day's rotation) are encoded as they are listed; the cache pays off for large answers.
        let cachedIDs = matching > cacheThreshold ? publicIDs(for: snapshot) : nil
        var json = ResponseJSON(capacity: 40 + matching * 64)
        json.literal(#"{"status":"success","body":["#)
        var first = true
        // Salt runs stamp many buckets with one time, so consecutive times are formatted once.
        var lastMillis: Int64?
        var lastText = ""
        for position in 0..<salts.count {
            let millis = salts.lastUpdatedMillis(at: position)
            guard millis >= sinceMillis else { continue }
            if millis != lastMillis {
                lastMillis = millis
                lastText = UTCDateTime.format(millis: millis)
            }
            if !first { json.literal(",") }
            first = false
            json.literal(#"{"bucket_id":"#)
            if let cachedIDs, position < cachedIDs.count {
                json.string(cachedIDs[position])
            } else {
                snapshot.bucketIDEncoder.withUTF8(salts.bucketID(at: position)) { json.string(utf8: $0) }
            }
            json.literal(#","last_updated":"#)
            json.string(lastText)
            json.literal("}")
        }
        json.literal("]}")
        return json.bytes
    }
}
