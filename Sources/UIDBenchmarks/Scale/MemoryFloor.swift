#if canImport(Glibc)
import Glibc
#endif

/// What one random read costs in a buffer of a given size on this machine: the floor under any
/// lookup into a table of that size, whatever its layout. Each read's address comes from the
/// previous read (a pointer chase through one random cycle of cache lines), so the reads cannot
/// overlap, as a single opt-out lookup's cannot. The buffer asks for huge pages, as the opt-out
/// table does, so the floor is memory latency rather than page walks.
enum MemoryFloor {
    /// Nanoseconds per dependent read, or nil when the buffer cannot be mapped.
    static func dependentRead(bytes: Int, budget: Duration) -> Stopwatch.Result? {
        #if canImport(Glibc)
        let lineBytes = 64
        let lines = max(bytes / lineBytes, 2)
        guard lines < Int(UInt32.max) else { return nil }
        let hugePage = 2 << 20
        let length = lines * lineBytes + hugePage
        guard let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != MAP_FAILED else { return nil }
        defer { munmap(mapped, length) }
        let aligned = (UInt(bitPattern: mapped) + UInt(hugePage) - 1) & ~UInt(hugePage - 1)
        guard let base = UnsafeMutableRawPointer(bitPattern: aligned) else { return nil }
        _ = madvise(base, lines * lineBytes, MADV_HUGEPAGE)
        // The first word of each line holds the next line's number: Sattolo's shuffle gives a
        // single cycle through every line, so the chase never settles into a cached loop.
        let words = base.bindMemory(to: UInt32.self, capacity: lines * lineBytes / 4)
        let wordsPerLine = lineBytes / 4
        for line in 0..<lines { words[line * wordsPerLine] = UInt32(truncatingIfNeeded: line) }
        var generator = FastRandom(seed: UInt64(lines))
        for line in stride(from: lines - 1, to: 0, by: -1) {
            let other = Int(generator.next() % UInt64(line))
            let kept = words[line * wordsPerLine]
            words[line * wordsPerLine] = words[other * wordsPerLine]
            words[other * wordsPerLine] = kept
        }
        var position = 0
        let result = Stopwatch.measure("dependent read in \(bytes) bytes", budget: budget) {
            position = Int(words[position * wordsPerLine])
        }
        blackHole(position)
        return result
        #else
        return nil
        #endif
    }
}
