/// The three arrays of opt-out records seen by several workers at once (the parallel scan's parts,
/// the placement's runs), each of which reads and writes only its own ranges. Every range is
/// checked against the arrays before use; the methods live beside their users.
struct OptOutRecordBuffers: @unchecked Sendable {
    let slots: UnsafeMutableBufferPointer<FirstLevelHashSlot>
    let advertisingIDs: UnsafeMutableBufferPointer<FirstLevelHashKey>
    let kinds: UnsafeMutableBufferPointer<UInt16>

    /// Whether `range` lies inside all three arrays.
    func holds(_ range: Range<Int>) -> Bool {
        range.lowerBound >= 0 && range.upperBound <= slots.count
            && range.upperBound <= advertisingIDs.count && range.upperBound <= kinds.count
    }
}
