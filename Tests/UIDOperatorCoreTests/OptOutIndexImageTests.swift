import Synchronization
import Testing
@testable import UIDOperatorCore

/// An index written as an image and read back answers as the index it was taken from; an image
/// that is damaged, cut short or from another format is refused, never read as a table.
@Suite struct OptOutIndexImageTests {
    typealias Bytes = OptOutIndexTests.Bytes

    static func image(of index: OptOutIndex, origin: [UInt8] = [1, 2, 3]) throws -> [UInt8]? {
        var bytes: [UInt8] = []
        let written = try OptOutIndexImage.write(index, origin: origin) { bytes.append(contentsOf: $0) }
        return written ? bytes : nil
    }

    static func read(_ image: [UInt8]) throws -> (index: OptOutIndex, origin: [UInt8]) {
        let shared = Mutex(image)
        return try OptOutIndexImage.read(size: image.count) { offset, buffer in
            try shared.withLock { bytes in
                guard offset >= 0, offset + buffer.count <= bytes.count else { throw OptOutIndexImage.Invalid("read past the end") }
                bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + buffer.count)])) }
            }
        }
    }

    @Test(arguments: [0, 1, 37, 5_000])
    func anImageReadBackAnswersAsTheIndex(count: Int) throws {
        let records = OptOutIndexTests.records(count, seed: UInt64(count) + 11)
        var model = OptOutIndexTests.Model()
        for record in records { model.add(record.flh, record.id, record.seconds) }
        let index = OptOutIndexTests.built(records)
        let image = try #require(try Self.image(of: index, origin: [9, 8, 7, 6, 5]))
        let (restored, origin) = try Self.read(image)
        #expect(origin == [9, 8, 7, 6, 5])
        #expect(restored.recordCount == index.recordCount)
        OptOutIndexTests.expectAnswers(restored, model)
        // The same arrays, byte for byte: writing the restored index gives the same image.
        #expect(try Self.image(of: restored, origin: [9, 8, 7, 6, 5]) == image)
    }

    @Test func anIndexWithRecordsNotFoldedInIsNotImaged() throws {
        var index = OptOutIndexTests.built(OptOutIndexTests.records(100, seed: 1))
        var bytes = Bytes(state: 5)
        index.insert(firstLevelHash: bytes.next(32), optedOutSinceSeconds: 1)
        #expect(try Self.image(of: index) == nil)
        #expect(try Self.image(of: OptOutIndexTests.built([]), origin: [UInt8](repeating: 0, count: OptOutIndexImage.originLimit + 1)) == nil)
    }

    @Test func theOriginIsReadFromTheHeaderAlone() throws {
        let image = try #require(try Self.image(of: OptOutIndexTests.built(OptOutIndexTests.records(300, seed: 2)), origin: [4, 4, 4]))
        var reads: [Range<Int>] = []
        let origin = try OptOutIndexImage.origin(size: image.count) { offset, buffer in
            reads.append(offset..<(offset + buffer.count))
            image.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + buffer.count)])) }
        }
        #expect(origin == [4, 4, 4])
        #expect(reads.allSatisfy { $0.upperBound <= OptOutIndexImage.headerBytes + 8 })
    }

    /// Every byte matters: a flip anywhere (header, origin, any array, a digest) is refused.
    @Test func aChangedByteAnywhereIsRefused() throws {
        let image = try #require(try Self.image(of: OptOutIndexTests.built(OptOutIndexTests.records(400, seed: 3))))
        var bytes = Bytes(state: 77)
        var positions = Set([0, 8, 40, 100, OptOutIndexImage.headerBytes, image.count - 1, image.count - 40, image.count / 2])
        for _ in 0..<40 { positions.insert(Int(bytes.next(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) % image.count) }
        for position in positions {
            var damaged = image
            damaged[position] ^= 0x10
            #expect(throws: OptOutIndexImage.Invalid.self, "byte \(position)") { try Self.read(damaged) }
        }
    }

    @Test func aShortOrLongImageIsRefusedBeforeAnythingIsAllocated() throws {
        let image = try #require(try Self.image(of: OptOutIndexTests.built(OptOutIndexTests.records(50, seed: 4))))
        for cut in [0, 7, OptOutIndexImage.headerBytes - 1, OptOutIndexImage.headerBytes, image.count / 2, image.count - 1] {
            #expect(throws: OptOutIndexImage.Invalid.self, "cut at \(cut)") { try Self.read(Array(image.prefix(cut))) }
        }
        #expect(throws: OptOutIndexImage.Invalid.self) { try Self.read(image + [0]) }
    }

    /// A header claiming billions of records in a small file is refused from its words alone.
    @Test func anImpossibleHeaderIsRefused() throws {
        let image = try #require(try Self.image(of: OptOutIndexTests.built(OptOutIndexTests.records(50, seed: 5))))
        func withWord(_ index: Int, _ value: UInt64) -> [UInt8] {
            var changed = image
            withUnsafeBytes(of: value) { changed.replaceSubrange((index * 8)..<(index * 8 + 8), with: $0) }
            return changed
        }
        for (word, value) in [(0, 1), (1, 2), (2, 0x0807_0605_0403_0201), (5, UInt64(UInt32.max) + 1), (5, 1 << 40), (6, 1 << 33), (7, 3), (10, 65), (11, 1_000_000), (12, 1 << 20)] as [(Int, UInt64)] {
            #expect(throws: OptOutIndexImage.Invalid.self, "word \(word) = \(value)") { try Self.read(withWord(word, value)) }
        }
    }
}
