import _CryptoExtras
import Crypto

/// The identity → first-level hash → bucket → raw UID chain of docs/PROTOCOL.md#hashing-chain.
///
/// Hashes travel between stages as base64 *text* and salts are used as raw strings, so every
/// step hashes `base64(previous) ‖ salt` without decoding the salt.
public enum HashChain {
    /// `SHA256(base64(H) ‖ first_level_salt)`.
    public static func firstLevelHash(identityHash: [UInt8], firstLevelSalt: [UInt8]) -> [UInt8] {
        saltedHash(identityHash, salt: firstLevelSalt)
    }

    /// As above, held inline (the identity-map path: no allocation per identity).
    public static func firstLevelHash(identityHash: InlineBytes, firstLevelSalt: [UInt8]) -> InlineBytes {
        identityHash.withUnsafeBytes { hash in
            firstLevelSalt.withUnsafeBytes { salt in
                InlineBytes(count: OneShotSHA256.byteCount) { saltedDigest(hash, salt: salt, into: $0) }
            }
        }
    }

    /// 20 bits from the FLH: byte 0, byte 1, then the *low* nibble of byte 2. Used directly when
    /// there are exactly 2^20 buckets, otherwise reduced modulo the count.
    ///
    /// Total for any input: a first-level hash is always 32 bytes (decoders check it), but a short
    /// one reads its missing bytes as zero and an empty table answers 0, never a trap. Snapshots
    /// refuse an empty salt table (`SnapshotFailure.noSaltBuckets`).
    public static func bucketIndex(firstLevelHash flh: [UInt8], bucketCount: Int) -> Int {
        flh.withUnsafeBytes { bucketIndex(firstLevelHash: $0, bucketCount: bucketCount) }
    }

    public static func bucketIndex(firstLevelHash flh: InlineBytes, bucketCount: Int) -> Int {
        flh.withUnsafeBytes { bucketIndex(firstLevelHash: $0, bucketCount: bucketCount) }
    }

    private static func bucketIndex(firstLevelHash flh: UnsafeRawBufferPointer, bucketCount: Int) -> Int {
        guard bucketCount > 0 else { return 0 }
        func byte(_ position: Int) -> Int { position < flh.count ? Int(flh[position]) : 0 }
        let index = byte(0) << 12 | byte(1) << 4 | (byte(2) & 0x0F)
        return bucketCount == 1 << 20 ? index : index % bucketCount
    }

    /// Raw UID from a salt: v2 (32 bytes) or, with `v3`, prefixed by the scope/type byte (33 bytes).
    public static func rawUID(
        firstLevelHash flh: [UInt8], salt: [UInt8], scope: IdentityScope, type: IdentityType, v3: Bool
    ) -> [UInt8] {
        flh.withUnsafeBytes { flh in
            salt.withUnsafeBytes { rawUID(firstLevelHash: flh, salt: $0, scope: scope, type: type, v3: v3).bytes }
        }
    }

    /// As above, with the first-level hash and the salt read in place (the salt from
    /// `SaltTable.withBucketSalts`), and the raw UID held inline: the digest is written straight
    /// into it, after the prefix byte for v3.
    public static func rawUID(
        firstLevelHash flh: UnsafeRawBufferPointer, salt: UnsafeRawBufferPointer, scope: IdentityScope, type: IdentityType, v3: Bool
    ) -> InlineBytes {
        let prefixCount = v3 ? 1 : 0
        return InlineBytes(count: prefixCount + OneShotSHA256.byteCount) { uid in
            if v3 { uid[0] = identityPrefix(scope: scope, type: type) }
            saltedDigest(flh, salt: salt, into: UnsafeMutableRawBufferPointer(rebasing: uid[prefixCount...]))
        }
    }

    /// `SHA256(base64(bytes) ‖ salt)`, with the base64 text written straight into the hash input.
    public static func saltedHash(_ bytes: [UInt8], salt: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { bytes in
            salt.withUnsafeBytes { salt in
                [UInt8](unsafeUninitializedCapacity: OneShotSHA256.byteCount) { digest, initialized in
                    saltedDigest(bytes, salt: salt, into: UnsafeMutableRawBufferPointer(digest))
                    initialized = OneShotSHA256.byteCount
                }
            }
        }
    }

    /// Writes `SHA256(base64(bytes) ‖ salt)` into `digest`: the input is assembled in one stack
    /// buffer and hashed in one call (`OneShotSHA256`), so nothing goes to the heap.
    private static func saltedDigest(_ bytes: UnsafeRawBufferPointer, salt: UnsafeRawBufferPointer, into digest: UnsafeMutableRawBufferPointer) {
        let encodedCount = Base64.encodedLength(bytes.count, padding: true)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: encodedCount + salt.count) { buffer in
            let written = Base64.encode(bytes, alphabet: .standard, into: buffer)
            let saltArea = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[written..<written + salt.count])
            saltArea.copyMemory(from: salt)
            OneShotSHA256.hash(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<written + salt.count]), into: digest)
        }
    }
}

/// Key material that replaces the salt in a v4 bucket (docs/PROTOCOL.md#raw-uid-v4). `key` and `salt` are the
/// stored *strings'* bytes: the 32 ASCII characters of `key` are the AES-256 key itself.
public struct SaltKeyMaterial: Sendable, Equatable {
    public let id: Int32
    public let key: [UInt8]
    public let salt: [UInt8]

    public init(id: Int32, key: [UInt8], salt: [UInt8]) {
        self.id = id
        self.key = key
        self.salt = salt
    }
}

public enum RawUIDv4 {
    /// `metadata = (env << 6) | (1 << 5) | (scope << 4) | (type << 2)`.
    public static func metadataByte(scope: IdentityScope, type: IdentityType, environment: IdentityEnvironment) -> UInt8 {
        environment.rawValue << 6 | 1 << 5 | identityPrefix(scope: scope, type: type)
    }

    /// `metadata(1) ‖ kid3(3) ‖ iv(12) ‖ AES-CTR(L16)(16) ‖ checksum(1)`; nil if the key is unusable.
    public static func make(
        firstLevelHash flh: [UInt8], material: SaltKeyMaterial,
        scope: IdentityScope, type: IdentityType, environment: IdentityEnvironment
    ) -> [UInt8]? {
        make(firstLevelHash: flh, material: material,
             metadata: metadataByte(scope: scope, type: type, environment: environment))
    }

    public static func make(firstLevelHash flh: [UInt8], material: SaltKeyMaterial, metadata: UInt8) -> [UInt8]? {
        guard flh.count >= 16, let key = SymmetricKey.aes(material.key) else { return nil }
        let keyID = UInt32(bitPattern: material.id)
        let kid3 = [UInt8(truncatingIfNeeded: keyID >> 16), UInt8(truncatingIfNeeded: keyID >> 8), UInt8(truncatingIfNeeded: keyID)]
        let last16 = flh.suffix(16)

        var ivHasher = SHA256()
        ivHasher.update(data: material.salt)
        ivHasher.update(data: Array(last16))
        ivHasher.update(data: [metadata] + kid3)
        let iv = Array(ivHasher.finalize().prefix(12))

        guard let nonce = try? AES._CTR.Nonce(nonceBytes: iv + [0, 0, 0, 0]),
              let encrypted = try? AES._CTR.encrypt(Array(last16), using: key, nonce: nonce)
        else { return nil }

        var uid = [metadata] + kid3 + iv + Array(encrypted)
        uid.append(uid.reduce(0, ^))
        return uid
    }
}

extension SHA256.Digest {
    /// `Array(digest)` walks the digest as a generic sequence, byte by byte; this is one copy.
    @inlinable
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
