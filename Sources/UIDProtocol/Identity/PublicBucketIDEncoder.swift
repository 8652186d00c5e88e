/// The bucket id that identity map v2 and `/v2/identity/buckets` publish: the salt file's
/// `id_prefix` followed by Hashids(`id_secret`, minimum length 9) of the bucket's number
/// (docs/PROTOCOL.md#bucket-ids).
public struct PublicBucketIDEncoder: Sendable {
    public let prefix: String
    private let prefixUTF8: [UInt8]
    private let hashids: Hashids

    public init(prefix: String, secret: String) {
        self.prefix = prefix
        prefixUTF8 = Array(prefix.utf8)
        hashids = Hashids(salt: secret, minLength: 9)
    }

    /// The public id as a string.
    public func encode(_ bucketID: Int64) -> String {
        var text = ""
        withUTF8(bucketID) { text = String(decoding: $0, as: UTF8.self) }
        return text
    }

    /// The public id's UTF-8 bytes, built on the stack and handed to `body`: map v2 writes one per
    /// identity, and as strings they were about a tenth of its work.
    public func withUTF8(_ bucketID: Int64, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        guard !hashids.withEncodedSingle(bucketID, prefix: prefixUTF8, body) else { return }
        // Numbers the tables do not cover (negative ones) take the general algorithm.
        var text = prefix + hashids.encode([bucketID])
        text.withUTF8(body)
    }
}
