import Foundation
import UIDOperatorCore

#if canImport(Glibc)
import Glibc
#endif

/// The file beside the database that holds an image of the opt-out index (`OptOutIndexImage`),
/// with the store rows it was built from as its origin. Written whole to a temporary file,
/// synced and renamed into place, so a reader sees an old image or a new one, never half of one.
enum OptOutImageFile {
    static let suffix = "-optout-index"

    static func path(forDatabase path: String) -> String { path + suffix }

    /// What an image was built from: the rows of one store (`nonce`) up to `watermark`, with
    /// `rewrites` rows changed or deleted before it was taken, and a digest of the last row's
    /// values, which catches a store put back to an older copy of itself.
    struct Origin: Equatable {
        let nonce: [UInt8]
        let rewrites: Int64
        let watermark: Int64
        let lastRow: [UInt8]

        static let nonceBytes = 16, lastRowBytes = 32

        init(nonce: [UInt8], rewrites: Int64, watermark: Int64, lastRow: [UInt8]) {
            (self.nonce, self.rewrites, self.watermark, self.lastRow) = (nonce, rewrites, watermark, lastRow)
        }

        init?(bytes: [UInt8]) {
            guard bytes.count == Self.nonceBytes + 16 + Self.lastRowBytes else { return nil }
            nonce = Array(bytes[0..<16])
            rewrites = bytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: 16, as: Int64.self)) }
            watermark = bytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: 24, as: Int64.self)) }
            lastRow = Array(bytes[32...])
        }

        var bytes: [UInt8] {
            nonce + withUnsafeBytes(of: rewrites.littleEndian, Array.init) + withUnsafeBytes(of: watermark.littleEndian, Array.init) + lastRow
        }
    }

    /// The origin of the image at `path`; nil when there is none. Throws for a file that is not a
    /// readable image.
    static func origin(path: String) throws -> Origin? {
        guard let file = try ReadableFile(path: path) else { return nil }
        let bytes = try OptOutIndexImage.origin(size: file.size) { offset, buffer in try file.read(at: offset, into: buffer) }
        guard let origin = Origin(bytes: bytes) else { throw OptOutIndexImage.Invalid("an opt-out index image with an unknown origin") }
        return origin
    }

    /// The image at `path`, every digest checked; nil when there is none.
    static func read(path: String) throws -> (index: OptOutIndex, origin: Origin)? {
        guard let file = try ReadableFile(path: path) else { return nil }
        file.adviseWillRead()
        let (index, bytes) = try OptOutIndexImage.read(size: file.size) { offset, buffer in try file.read(at: offset, into: buffer) }
        guard let origin = Origin(bytes: bytes) else { throw OptOutIndexImage.Invalid("an opt-out index image with an unknown origin") }
        return (index, origin)
    }

    /// Writes `index` as the image at `path` (owner-only), replacing any there once it is
    /// complete and synced. False when the index cannot be imaged (records not folded in).
    static func write(_ index: OptOutIndex, origin: Origin, path: String) throws -> Bool {
        removeAbandonedTemporaries(of: path)
        let temporary = "\(path)\(temporaryMarker)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SystemCallError(errno, "creating \(temporary)") }
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
        }
        do {
            defer { close(descriptor) }
            let written = try OptOutIndexImage.write(index, origin: origin.bytes) { bytes in
                guard let base = bytes.baseAddress else { return }
                var done = 0
                while done < bytes.count {
                    let result = Glibc.write(descriptor, base + done, bytes.count - done)
                    if result < 0, errno == EINTR { continue }
                    guard result > 0 else { throw SystemCallError(errno, "writing \(temporary)") }
                    done += result
                }
            }
            guard written else { return false }
            guard fsync(descriptor) == 0 else { throw SystemCallError(errno, "syncing \(temporary)") }
        }
        guard rename(temporary, path) == 0 else { throw SystemCallError(errno, "renaming \(temporary)") }
        renamed = true
        // The rename itself is durable once the directory is synced.
        let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
        return true
    }

    /// Between an image's path and the writing process's id in its temporary file's name.
    static let temporaryMarker = ".tmp-"

    /// Temporary images left by processes that stopped while writing them (a node stopped right
    /// after it started): each is hundreds of megabytes with ten million opt-outs.
    static func removeAbandonedTemporaries(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let prefix = (path as NSString).lastPathComponent + temporaryMarker
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let writer = name.dropFirst(prefix.count).split(separator: "-").first.flatMap({ Int32($0) }), writer > 0 else { continue }
            if writer != getpid(), kill(writer, 0) != 0, errno == ESRCH { unlink(directory + "/" + name) }
        }
    }

    /// An open image: its size, and reads at offsets from any thread (`pread`).
    private final class ReadableFile: Sendable {
        let descriptor: Int32
        let size: Int

        /// Nil when there is no file at `path`.
        init?(path: String) throws {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                if errno == ENOENT { return nil }
                throw SystemCallError(errno, "opening \(path)")
            }
            var status = stat()
            guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
                close(descriptor)
                throw OptOutIndexImage.Invalid("\(path) is not a regular file")
            }
            size = Int(status.st_size)
        }

        deinit { close(descriptor) }

        /// The kernel reads ahead of the readers (the image is read whole, in a few streams).
        func adviseWillRead() {
            _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_WILLNEED)
        }

        /// Fills `buffer` from `offset`; throws when the file ends first.
        func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
            guard let base = buffer.baseAddress else { return }
            var done = 0
            while done < buffer.count {
                let result = pread(descriptor, base + done, buffer.count - done, off_t(offset + done))
                if result < 0, errno == EINTR { continue }
                guard result > 0 else {
                    throw result == 0 ? OptOutIndexImage.Invalid("the opt-out index image ends early") : SystemCallError(errno, "reading the opt-out index image")
                }
                done += result
            }
        }
    }
}

/// A failed system call, with what was being done.
struct SystemCallError: Error, CustomStringConvertible {
    let description: String

    init(_ code: Int32, _ doing: String) {
        description = "\(doing): \(String(cString: strerror(code)))"
    }
}
