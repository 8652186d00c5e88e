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
        let statResult = fstat(descriptor, &status)
        try #require(statResult == 0 && status.st_size > 0)
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

        FilePrefetch.adviseWillRead(path: path, minimumBytes: 1)
        // Readahead is best effort: with the whole suite reading and writing at once, the kernel
        // left 8 % of the pages unread once (0.918). Without the advice the share stays below a
        // half, so four fifths still tells the advice worked.
        var share = try Self.residentShare(path)
        for _ in 0..<100 where share < 0.95 {
            try await Task.sleep(for: .milliseconds(100))
            share = try Self.residentShare(path)
        }
        #expect(share >= 0.8, "pages cached after the advice: \(share)")
    }
    #endif

    /// Whether another process could take SQLite's exclusive lock on `path` now: false while
    /// this process holds its shared lock on the database (the bytes SQLite locks, from 2^30 + 2).
    static func anotherProcessCouldLockExclusively(_ path: String) throws -> Bool {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", """
            import fcntl, os, sys
            fd = os.open(sys.argv[1], os.O_RDWR)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 510, 0x40000002)
                print("free")
            except OSError:
                print("held")
            """, path]
        let output = Pipe()
        check.standardOutput = output
        try check.run()
        check.waitUntilExit()
        let answer = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(check.terminationStatus == 0 && ["free\n", "held\n"].contains(answer), "python3 could not check the lock")
        return answer == "free\n"
    }

    /// Closing a descriptor of the database file would drop SQLite's locks on it; the advice
    /// must leave them held, or another process could checkpoint and delete the WAL under a server.
    @Test func adviceLeavesSQLitesLocksHeld() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prefetch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        _ = try await StoreBootstrap.seedIfEmpty(store, scope: .uid2, environment: .test, nowMillis: 1_750_000_000_000, bucketCount: 64)
        let path = directory.appendingPathComponent(SQLiteStore.fileName).path
        // A read keeps a connection open, which in WAL mode holds a shared lock on the file.
        _ = try await store.version()
        let freeBefore = try Self.anotherProcessCouldLockExclusively(path)
        try #require(!freeBefore, "SQLite holds no lock to check")
        FilePrefetch.adviseWillRead(path: path, minimumBytes: 1)
        let freeAfter = try Self.anotherProcessCouldLockExclusively(path)
        #expect(!freeAfter, "the advice dropped SQLite's lock")
        _ = try await store.version()
    }

    @Test func pathsItCannotUseAreLeftAlone() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prefetch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty").path
        #expect(FileManager.default.createFile(atPath: empty, contents: nil))
        for path in [directory.appendingPathComponent("missing").path, empty, directory.path, ""] {
            FilePrefetch.adviseWillRead(path: path, minimumBytes: 1)
        }
        #expect(FileManager.default.fileExists(atPath: empty))
    }
}
