import Foundation
import Testing
@testable import UIDProtocol

/// `InlineBytes` and the identity-map path that carries hashes in it: the same bytes as the array path.
@Suite struct InlineBytesTests {
    @Test func holdsUpToItsCapacity() {
        for count in 0...InlineBytes.capacity {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) }
            let inline = InlineBytes(bytes)
            #expect(inline?.bytes == bytes, "\(count) bytes")
            #expect(inline?.count == count)
        }
        #expect(InlineBytes([UInt8](repeating: 1, count: InlineBytes.capacity + 1)) == nil)
        // A count above the capacity is cut to it, never written past.
        let cut = InlineBytes(count: 1_000) { $0.initializeMemory(as: UInt8.self, repeating: 0xAB) }
        #expect(cut.bytes == [UInt8](repeating: 0xAB, count: InlineBytes.capacity))
    }

    @Test func equalBytesAreEqualWhateverWasWrittenPastThem() {
        let short = InlineBytes(count: 33, writingUpTo: { buffer in
            buffer.initializeMemory(as: UInt8.self, repeating: 5)
            return 32
        })
        let exact = InlineBytes([UInt8](repeating: 5, count: 32))
        #expect(short == exact)
        #expect(short?.bytes == [UInt8](repeating: 5, count: 32))
        #expect(InlineBytes([1, 2]) != InlineBytes([1, 2, 0]), "a trailing zero is a byte")
        #expect(InlineBytes(count: 4, writingUpTo: { _ in nil }) == nil)
        #expect(InlineBytes(count: 4, writingUpTo: { _ in 5 }) == nil, "more than was offered")
    }

    /// 44 base64 characters without padding are 33 bytes, accepted as the reference does.
    @Test func hashedInputsDecodeInline() {
        let unpadded = "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijsA"
        #expect(HashedInput.decode(unpadded)?.bytes == Base64.decode(unpadded))
        #expect(HashedInput.decode(unpadded)?.count == 33)
        let hex = "0c7e6a405862e402eb76a70f8a26fc732d07c32931e9fae9ab1582911d2e8a3b"
        #expect(HashedInput.decode(hex)?.bytes == Base64.decode("DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs="))
    }

    /// The inline hash chain against the array one, over random hashes of 32 and 33 bytes.
    @Test func inlineChainMatchesTheArrayChain() {
        var generator = SystemRandomNumberGenerator()
        let firstLevelSalt = Array("fOGY/aRE44peL23i+cE9MkJrzmEeNZZziNZBfq7qqk8=".utf8)
        let salt = Array("vgv1BwiNRCW7F3VcNXHlZh+7oHJ4G4gCshbGcVOLnss=".utf8)
        for round in 0..<200 {
            let identityHash = (0..<(32 + round % 2)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let flh = HashChain.firstLevelHash(identityHash: identityHash, firstLevelSalt: firstLevelSalt)
            let inlineFLH = HashChain.firstLevelHash(identityHash: InlineBytes(identityHash)!, firstLevelSalt: firstLevelSalt)
            #expect(inlineFLH.bytes == flh)
            for bucketCount in [1 << 20, 1_000, 1] {
                #expect(HashChain.bucketIndex(firstLevelHash: inlineFLH, bucketCount: bucketCount)
                    == HashChain.bucketIndex(firstLevelHash: flh, bucketCount: bucketCount))
            }
            for v3 in [false, true] {
                let inlineUID = inlineFLH.withUnsafeBytes { flh in
                    salt.withUnsafeBytes { HashChain.rawUID(firstLevelHash: flh, salt: $0, scope: .euid, type: .phone, v3: v3) }
                }
                #expect(inlineUID.bytes == HashChain.rawUID(firstLevelHash: flh, salt: salt, scope: .euid, type: .phone, v3: v3))
            }
        }
    }
}
