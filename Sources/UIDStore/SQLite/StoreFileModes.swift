import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Owner-only modes for the embedded store: its directory 0700, its files 0600.
enum StoreFileModes {
    static let directoryMode: mode_t = 0o700
    static let fileMode: mode_t = 0o600

    /// Creates `directory` (0700) and an empty database file (0600) when missing, so neither
    /// exists for a moment with the process's umask; tightens looser modes on existing ones.
    static func secure(directory: URL, databaseName: String) throws -> [String] {
        var warnings: [String] = []
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: directory.path]) }
            var status = stat()
            if stat(directory.path, &status) == 0, status.st_mode & S_ISVTX != 0 {
                // A shared directory such as /tmp is never changed; the store should not live there.
                warnings.append("data directory \(directory.path) is shared (mode \(String(status.st_mode & 0o7777, radix: 8))); give the store a directory of its own")
            } else {
                warnings += tighten(directory.path, to: directoryMode, what: "data directory")
            }
        } else {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(directoryMode)])
            // The mode given to mkdir is filtered by the umask; set it exactly.
            chmod(directory.path, directoryMode)
        }
        let database = directory.appendingPathComponent(databaseName).path
        if fm.fileExists(atPath: database) {
            warnings += tighten(database, to: fileMode, what: "store file")
        } else {
            let descriptor = open(database, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, fileMode)
            if descriptor >= 0 {
                fchmod(descriptor, fileMode)
                close(descriptor)
            }
        }
        return warnings
    }

    /// The -wal and -shm files next to the database, when they exist.
    static func secureCompanions(directory: URL, databaseName: String) -> [String] {
        ["-wal", "-shm", OptOutImageFile.suffix].flatMap { suffix -> [String] in
            let path = directory.appendingPathComponent(databaseName + suffix).path
            guard FileManager.default.fileExists(atPath: path) else { return [] }
            return tighten(path, to: fileMode, what: "store file")
        }
    }

    /// Removes permission bits beyond `mode`; says so when there were any.
    static func tighten(_ path: String, to mode: mode_t, what: String) -> [String] {
        var status = stat()
        guard stat(path, &status) == 0 else { return [] }
        let current = status.st_mode & 0o7777
        guard current & ~mode != 0 else { return [] }
        let tightened = current & mode
        guard chmod(path, tightened) == 0 else {
            return ["\(what) \(path) has mode \(String(current, radix: 8)) and could not be changed to \(String(tightened, radix: 8)): \(String(cString: strerror(errno)))"]
        }
        return ["\(what) \(path) had mode \(String(current, radix: 8)); changed to \(String(tightened, radix: 8)) (it holds secrets)"]
    }
}
