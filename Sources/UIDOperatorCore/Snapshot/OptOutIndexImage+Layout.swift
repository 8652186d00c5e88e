extension OptOutIndexImage {
    /// Where each part of an image lies, from a table (to write) or from a header (to read,
    /// checked against the image's size before anything is allocated).
    struct Layout {
        /// The table's arrays, in the order they are written: slots, advertising ids, kinds,
        /// first-level-hash starts, advertising-id order, advertising-id starts.
        static let regionCount = 6
        static let strides = [
            MemoryLayout<FirstLevelHashSlot>.stride, MemoryLayout<FirstLevelHashKey>.stride, MemoryLayout<UInt16>.stride,
            MemoryLayout<UInt32>.stride, MemoryLayout<UInt32>.stride, MemoryLayout<UInt32>.stride,
        ]

        /// Elements in each region.
        let counts: [Int]
        let hashShift: UInt64
        let idShift: UInt64
        let distinct: Int
        let originCount: Int

        /// Zero bytes after the origin, so the arrays start on a word.
        var originPadding: Int { (8 - originCount % 8) % 8 }

        /// Each region's first byte in the image.
        var regionOffsets: [Int] {
            var offset = headerBytes + originCount + originPadding
            return zip(counts, Self.strides).map { count, stride in
                defer { offset += count * stride }
                return offset
            }
        }

        /// The image's size: header, origin, regions, and a digest for the header and each region.
        var size: Int {
            headerBytes + originCount + originPadding + zip(counts, Self.strides).reduce(0) { $0 + $1.0 * $1.1 }
                + (Self.regionCount + 1) * digestBytes
        }

        init(table: OptOutTable, originCount: Int) {
            let records = table.records.count
            counts = [records, records, records, table.firstLevelHashStarts.count, table.advertisingIDOrder.count, table.advertisingIDStarts.count]
            hashShift = table.firstLevelHashShift
            idShift = table.advertisingIDShift
            distinct = table.distinctFirstLevelHashes
            self.originCount = originCount
        }

        var header: [UInt64] {
            var words = [UInt64](repeating: 0, count: headerWordCount)
            words[0] = magic
            words[1] = version
            words[2] = byteOrderProbe
            words[3] = UInt64(Self.strides[0])
            words[4] = UInt64(Self.strides[1])
            words[5] = UInt64(counts[0])
            words[6] = UInt64(counts[3])
            words[7] = hashShift
            words[8] = UInt64(counts[4])
            words[9] = UInt64(counts[5])
            words[10] = idShift
            words[11] = UInt64(distinct)
            words[12] = UInt64(originCount)
            return words
        }

        /// Checks every word before it sizes anything: counts within what positions (32 bits)
        /// can address and within the image, shifts a table can have, and the total equal to `size`.
        init(header words: [UInt64], size: Int) throws {
            guard words.count == headerWordCount, words[0] == magic else { throw Invalid("not an opt-out index image") }
            guard words[1] == version else { throw Invalid("an opt-out index image of format \(words[1]), not \(version)") }
            guard words[2] == byteOrderProbe, words[3] == UInt64(Self.strides[0]), words[4] == UInt64(Self.strides[1]) else {
                throw Invalid("an opt-out index image written on another kind of machine")
            }
            let limit = UInt64(UInt32.max)
            let records = words[5], hashStarts = words[6], order = words[8], idStarts = words[9]
            guard records <= limit, hashStarts <= records + 2, order <= records, idStarts <= records + 2,
                  words[11] <= records, words[12] <= UInt64(originLimit),
                  (24...64).contains(words[7]), (24...64).contains(words[10])
            else { throw Invalid("an opt-out index image with an impossible header") }
            let count = Int(records)
            counts = [count, count, count, Int(hashStarts), Int(order), Int(idStarts)]
            hashShift = words[7]
            idShift = words[10]
            distinct = Int(words[11])
            originCount = Int(words[12])
            guard self.size == size else { throw Invalid("an opt-out index image of \(size) bytes where its header says \(self.size)") }
        }
    }
}
