import Foundation
import GRDB
import Logging
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
    /// Not written, on purpose (why): the index may no longer match the rows.
    case skipped(String)

    /// Logs how a write ended: the one after a start that read every row, or one while serving
    /// (`refreshing`, with `metadata` such as the row it reaches).
    public func log(to logger: Logger, refreshing: Bool, metadata: Logger.Metadata = [:]) {
        let verb = refreshing ? "refresh" : "write"
        switch self {
        case .written(let path, let seconds):
            logger.info("\(refreshing ? "Refreshed" : "Wrote") the opt-out index image", metadata: metadata.merging([
                "path": "\(path)", "seconds": "\(String(format: "%.2f", seconds))",
            ]) { _, new in new })
        case .failed(let reason):
            logger.warning(
                "Could not \(verb) the opt-out index image; the next start reads \(refreshing ? "more opt-outs" : "every opt-out")",
                metadata: metadata.merging(["error": "\(reason)"]) { _, new in new }
            )
        case .skipped(let reason):
            logger.notice("Did not \(verb) the opt-out index image; the next start reads every opt-out", metadata: metadata.merging(["reason": "\(reason)"]) { _, new in new })
        }
    }
}

/// What a node's opt-out index was loaded from, and its last image.
struct OptOutImageTrack {
    /// The store's rewrite count before the load read any row (nil: a store without one).
    let rewrites: Int64?
    /// The watermark of the last image this node started from, wrote or tried to write.
    var imagedWatermark: Int64?
    /// An image is being written.
    var writing = false
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
    func restoreOptOutImage(upTo watermark: Int64) -> (restored: (index: OptOutIndex, imagedWatermark: Int64)?, refusal: String?) {
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
            return ((index, origin.watermark), nil)
        } catch {
            return (nil, "\(error)")
        }
    }

    /// Rows after an image that are still worth adding one by one (they sit beside the table in
    /// dictionaries, about 150 bytes each, until the node folds them in).
    static func rowsAfterImageLimit(_ imaged: Int64) -> Int64 {
        max(65_536, imaged / 32)
    }

    /// Rows recorded after the last image past which a serving node writes a new one: a quarter
    /// of what a start still takes from an image, so a node that runs for months restarts from
    /// an image and a few rows, never from every row.
    static func rowsBeforeImageRefresh(_ imaged: Int64) -> Int64 {
        rowsAfterImageLimit(imaged) / 4
    }

    /// The store's count of rewritten and deleted opt-out rows; nil before migration v7.
    static func rewriteCount(_ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT count FROM optout_rewrites WHERE id = 1")
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

    /// Called by a serving node each time it folds its recent opt-outs into its main index
    /// (`StoreSync`): `index` holds every row up to `watermark`. Writes it as the new image, in
    /// the background, once `rowsBeforeImageRefresh` rows were recorded after the last one;
    /// `done` gets the outcome of a write it starts. A node that restarted from its image would
    /// otherwise read ever more rows after it, until the image is refused and every row is read.
    ///
    /// The index may also hold opt-outs this node recorded just after `watermark`: they are in
    /// the store (an opt-out is stored before the node adds it), so the next start reads them
    /// again, and an opt-out recorded twice answers as once.
    public func refreshOptOutImage(_ index: OptOutIndex, upTo watermark: Int64, done: @escaping @Sendable (OptOutImageOutcome) -> Void) {
        writeOptOutImageInBackground(index, upTo: watermark, onlyWhenDue: true, done: done)
    }

    /// Writes `index` (every row up to `watermark`) as the store's image, on a utility thread:
    /// the node serves meanwhile. Skipped for small indexes, when images are off, while another
    /// is being written, and (`onlyWhenDue`) before enough rows came after the last; a failure
    /// leaves the last image (or none), which the next start checks as always.
    func writeOptOutImageInBackground(
        _ index: OptOutIndex, upTo watermark: Int64, onlyWhenDue: Bool = false, done: (@Sendable (OptOutImageOutcome) -> Void)? = nil
    ) {
        guard let path = optOutImagePath, index.recordCount >= optOutImageMinimum, index.pendingCount == 0 else { return }
        let claimed = optOutImageTrack.withLock { track -> OptOutImageTrack? in
            guard var current = track, !current.writing else { return nil }
            if onlyWhenDue {
                let last = current.imagedWatermark ?? 0
                guard watermark > last, watermark - last >= Self.rowsBeforeImageRefresh(last) else { return nil }
            }
            // Marked before the write: a failed one is tried again only after as many rows more.
            current.imagedWatermark = watermark
            current.writing = true
            track = current
            return current
        }
        guard let claimed else { return }
        let pool = self.pool
        DispatchQueue.global(qos: .utility).async(group: optOutImageWrites) {
            let outcome: OptOutImageOutcome?
            do {
                outcome = try Self.writeOptOutImage(index, upTo: watermark, expectingRewrites: claimed.rewrites, path: path, pool: pool)
            } catch {
                outcome = .failed("\(error)")
            }
            self.optOutImageTrack.withLock { $0?.writing = false }
            guard let outcome else { return }
            self.optOutImageOutcomes.withLock { $0 = outcome }
            done?(outcome)
        }
    }

    /// Writes the image if the store's rows are still those the index was read from; nil when
    /// nothing was written and nothing needs saying (a store without the rewrite counter, an index
    /// with records not folded in). The image is an optimisation: without it the next start reads every row.
    private static func writeOptOutImage(
        _ index: OptOutIndex, upTo watermark: Int64, expectingRewrites rewrites: Int64?, path: String, pool: DatabasePool
    ) throws -> OptOutImageOutcome? {
        let started = ContinuousClock.now
        guard let origin = try pool.read({ db in try imageOrigin(db, watermark: watermark) }) else { return nil }
        // A row this node read was changed or deleted since: its index may not hold that change,
        // and an image of it would hide the change from the next start.
        guard origin.rewrites == rewrites else { return .skipped("opt-out rows were changed or deleted after this node read them") }
        guard try OptOutImageFile.write(index, origin: origin, path: path) else { return nil }
        return .written(path: path, seconds: (ContinuousClock.now - started).seconds)
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
