import Foundation
import GRDB
import UIDOperatorCore
import UIDProtocol

/// How a load got its opt-outs, for the start-up log.
public struct OptOutLoadReport: Sendable, Equatable {
    public enum Source: String, Sendable {
        /// Every row read and sorted.
        case rows
        /// The index image beside the store, and the rows recorded after it.
        case image
    }

    public let source: Source
    /// Rows read from the store on top of the image (zero for `rows`).
    public let rowsAfterImage: Int
    /// Why an image found was not used (nil when there was none, or it was used).
    public let imageRefusal: String?
}

/// What became of an image written in the background.
public enum OptOutImageOutcome: Sendable, Equatable {
    case written(path: String, seconds: Double)
    case failed(String)
}

/// The image of the opt-out index kept beside the database. A node starts from it, reading only
/// the rows recorded since, instead of reading and sorting every row: the sort is most of a
/// start with millions of opt-outs. It is trusted only for the rows it was built from (its
/// `OptOutImageFile.Origin`): the same store, the same rewrite count (rows are only appended;
/// anything else done to them is counted), rows up to its watermark, and the last of those rows
/// as it was. Anything else, or a damaged file, and the node reads every row as before and then
/// writes a new image in the background.
extension SQLiteStore {
    /// The index from the image and the rows after it, or nil (with why, when an image was found
    /// and refused) to read every row.
    func restoreOptOutImage(upTo watermark: Int64) -> (index: OptOutIndex?, refusal: String?) {
        guard let path = optOutImagePath else { return (nil, nil) }
        do {
            guard let origin = try OptOutImageFile.origin(path: path) else { return (nil, nil) }
            // The origin is read before any digest is checked: a damaged one may hold any value,
            // and a negative watermark would overflow the subtraction below.
            guard origin.watermark >= 0 else { return (nil, "it records an impossible last row (\(origin.watermark))") }
            guard origin.watermark <= watermark else { return (nil, "it holds rows past the store's last (\(origin.watermark) > \(watermark))") }
            let rowsAfter = watermark - origin.watermark
            guard rowsAfter <= Self.rowsAfterImageLimit(origin.watermark) else {
                return (nil, "\(rowsAfter) rows were recorded after it")
            }
            guard let current = try pool.read({ db in try Self.imageOrigin(db, watermark: origin.watermark) }), current == origin else {
                return (nil, "it was built from other rows than the store holds now")
            }
            // Read whole, the image must still be the one checked (another process may have
            // replaced it meanwhile).
            guard let read = try OptOutImageFile.read(path: path) else { return (nil, nil) }
            guard read.origin == origin else { return (nil, "it was replaced while it was read") }
            var index = read.index
            var added = 0
            if watermark > origin.watermark {
                try pool.read { db in
                    try Self.scanOptOuts(db, ids: (origin.watermark + 1)...watermark) { hash, id, seconds in
                        index.insert(firstLevelHash: hash.map(Array.init) ?? [], advertisingID: id.map(Array.init), optedOutSinceSeconds: seconds)
                        added += 1
                        return true
                    }
                }
            }
            optOutLoadReports.withLock { $0 = OptOutLoadReport(source: .image, rowsAfterImage: added, imageRefusal: nil) }
            return (index, nil)
        } catch {
            return (nil, "\(error)")
        }
    }

    /// Rows after an image that are still worth adding one by one (they sit beside the table in
    /// dictionaries, about 150 bytes each, until the node folds them in).
    static func rowsAfterImageLimit(_ imaged: Int64) -> Int64 {
        max(65_536, imaged / 32)
    }

    /// The origin an image of this store's rows up to `watermark` has; nil for a store without
    /// the rewrite counter, whose images could not be checked.
    static func imageOrigin(_ db: Database, watermark: Int64) throws -> OptOutImageFile.Origin? {
        guard let guardRow = try Row.fetchOne(db, sql: "SELECT store_nonce, count FROM optout_rewrites WHERE id = 1"),
              let nonce = guardRow[0] as Data?, nonce.count == OptOutImageFile.Origin.nonceBytes
        else { return nil }
        var last: [UInt8] = []
        if let row = try Row.fetchOne(db, sql: "SELECT flh, advertising_id, opted_out_since FROM optouts WHERE id = ?", arguments: [watermark]) {
            let hash = (row[0] as Data?).map(Array.init) ?? [], id = (row[1] as Data?).map(Array.init) ?? []
            let seconds: Int64 = row[2] ?? 0
            last = [UInt8(truncatingIfNeeded: hash.count)] + hash + [UInt8(truncatingIfNeeded: id.count)] + id
                + withUnsafeBytes(of: seconds.littleEndian, Array.init)
        }
        let digest = last.withUnsafeBytes { OneShotSHA256.hash($0) }
        return OptOutImageFile.Origin(nonce: Array(nonce), rewrites: guardRow[1] ?? 0, watermark: watermark, lastRow: digest)
    }

    /// Writes `index` (every row up to `watermark`) as the store's image, on a utility thread:
    /// the node serves meanwhile. Skipped for small indexes and when images are off; a failure
    /// leaves the last image (or none), which the next start checks as always.
    func writeOptOutImageInBackground(_ index: OptOutIndex, upTo watermark: Int64) {
        guard let path = optOutImagePath, index.recordCount >= optOutImageMinimum, index.pendingCount == 0 else { return }
        let pool = self.pool
        DispatchQueue.global(qos: .utility).async(group: optOutImageWrites) {
            let started = ContinuousClock.now
            let outcome: OptOutImageOutcome
            do {
                // The image is an optimisation: without it the next start reads every row.
                guard let origin = try pool.read({ db in try Self.imageOrigin(db, watermark: watermark) }) else { return }
                guard try OptOutImageFile.write(index, origin: origin, path: path) else { return }
                outcome = .written(path: path, seconds: (ContinuousClock.now - started).seconds)
            } catch {
                outcome = .failed("\(error)")
            }
            self.optOutImageOutcomes.withLock { $0 = outcome }
        }
    }

    /// Waits for images being written (tests).
    public func waitForOptOutImageWrites() {
        optOutImageWrites.wait()
    }

    /// Calls `body` on `queue` once the images being written are done, with the last outcome
    /// (nil when nothing was written): the node logs it.
    public func whenOptOutImagesWritten(queue: DispatchQueue = .global(), _ body: @escaping @Sendable (OptOutImageOutcome?) -> Void) {
        optOutImageWrites.notify(queue: queue) { body(self.optOutImageOutcomes.withLock { $0 }) }
    }

    /// How the last full load got its opt-outs; nil before any.
    public var lastOptOutLoad: OptOutLoadReport? {
        optOutLoadReports.withLock { $0 }
    }
}

private extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
