import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Asks the kernel to read a file into the page cache before a full scan of it. A node starting
/// with its store out of the cache (after a reboot, or on a new machine) otherwise has SQLite's
/// scan wait on its page reads one at a time: 14 s to start on a 1.4 GB store here, against 4.4 s
/// with the file cached, while the kernel reads the whole file in about 1.5 s when asked for it in
/// large chunks.
///
/// Advice only: nothing is read into the process, any failure leaves the scan as it was, and a
/// file larger than half the machine's memory is left alone (it would push itself out).
///
/// The descriptor opened for the advice is never closed. Closing any descriptor of a file drops
/// every POSIX lock the process holds on it, SQLite's included: another process would then find
/// the database unused and, in WAL mode, checkpoint and delete the log under the running server.
/// So each file is advised at most once per process, and small files (read fast anyway) never.
enum FilePrefetch {
    /// Each piece of advice covers this much of the file.
    static let chunkBytes = 8 << 20
    /// Smaller files are not worth a descriptor held for the life of the process.
    static let minimumBytes = 64 << 20

    /// Paths advised by this process (each one's descriptor is still open).
    private static let advised = Mutex<Set<String>>([])

    static func adviseWillRead(path: String, minimumBytes: Int = FilePrefetch.minimumBytes) {
        #if os(Linux)
        // Checked by path first, so that a file not advised is never opened (and so never closed).
        var status = stat()
        guard !path.isEmpty, stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
              status.st_size >= max(minimumBytes, 1),
              UInt64(status.st_size) <= ProcessInfo.processInfo.physicalMemory / 2,
              advised.withLock({ $0.insert(path).inserted })
        else { return }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        var offset: off_t = 0
        while offset < status.st_size {
            guard posix_fadvise(descriptor, offset, off_t(chunkBytes), POSIX_FADV_WILLNEED) == 0 else { return }
            offset += off_t(chunkBytes)
        }
        #endif
    }

    /// `adviseWillRead` on a utility thread: submitting the advice for a large file takes a few
    /// tenths of a second, which the caller's scan should not wait for.
    static func adviseWillReadInBackground(path: String) {
        DispatchQueue.global(qos: .utility).async { adviseWillRead(path: path) }
    }
}
