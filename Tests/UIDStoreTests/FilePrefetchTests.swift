import Foundation
import Testing
@testable import UIDStore

#if canImport(Glibc)
import Glibc
#endif

/// The start-up prefetch: advice brings a file the cache had dropped back into it, and paths it
/// cannot use are left alone.
@Suite struct FilePrefetchTests {
    #if os(Linux)
    /// The share of the file's pages in the page cache (`mincore` on a read-only mapping).
    static func residentShare(_ path: String) throws -> Double {
        let descriptor = open(path, O_RDONLY)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var status = stat()
        try #require(fstat(descriptor, &status) == 0 && status.st_size > 0)
        let size = Int(status.st_size)
        let mapping = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0))
        try #require(mapping != UnsafeMutableRawPointer(bitPattern: -1))
        defer { munmap(mapping, size) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var pages = [UInt8](repeating: 0, count: (size + pageSize - 1) / pageSize)
        try #require(mincore(mapping, size, &pages) == 0)
        return Double(pages.filter { $0 & 1 != 0 }.count) / Double(pages.count)
    }

    @Test func adviceBringsAnEvictedFileBackIntoTheCache() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prefetch-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var bytes = [UInt8](repeating: 0, count: 24 << 20)
        for index in stride(from: 0, to: bytes.count, by: 4096) { bytes[index] = UInt8(truncatingIfNeeded: index >> 12) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        // Written back to disk first: only clean pages can be dropped from the cache.
        let descriptor = open(path, O_RDONLY)
        try #require(descriptor >= 0)
        fsync(descriptor)
        posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
        close(descriptor)
        try #require(try Self.residentShare(path) < 0.5, "the test file could not be dropped from the page cache")

        FilePrefetch.adviseWillRead(path: path)
        var share = try Self.residentShare(path)
        for _ in 0..<50 where share < 0.95 {
            try await Task.sleep(for: .milliseconds(100))
            share = try Self.residentShare(path)
        }
        #expect(share >= 0.95, "pages cached after the advice: \(share)")
    }
    #endif

    @Test func pathsItCannotUseAreLeftAlone() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prefetch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty").path
        #expect(FileManager.default.createFile(atPath: empty, contents: nil))
        for path in [directory.appendingPathComponent("missing").path, empty, directory.path, ""] {
            FilePrefetch.adviseWillRead(path: path)
        }
        #expect(FileManager.default.fileExists(atPath: empty))
    }
}
