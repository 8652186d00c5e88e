/// A lookup table made once and kept for the life of the process, read through a plain pointer.
/// A global array is retained and released around each use; on a hot path run by several
/// threads at once, those atomic updates of one shared reference count cost more than the lookups.
struct ProcessLifetimeTable<Element: BitwiseCopyable>: @unchecked Sendable {
    /// Never deallocated: the tables are static and live as long as the process.
    let buffer: UnsafeBufferPointer<Element>

    var count: Int { buffer.count }

    init(_ elements: [Element]) {
        let storage = UnsafeMutableBufferPointer<Element>.allocate(capacity: elements.count)
        _ = storage.initialize(from: elements)
        buffer = UnsafeBufferPointer(storage)
    }

    subscript(index: Int) -> Element { buffer[index] }
}
