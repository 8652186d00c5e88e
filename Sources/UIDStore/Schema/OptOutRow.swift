import Foundation
import UIDOperatorCore

/// One row of `optouts`: an opt-out and when the store recorded it (epoch ms).
struct OptOutRow: StoreRow {
    var record: OptOutRecord
    var recordedMillis: Int64

    static var table: StoreTable { .optOuts }

    var storeValues: [StoreValue] {
        [.blob(record.firstLevelHash), .blob(record.advertisingID), .int64(record.optedOutSinceSeconds), .int64(recordedMillis)]
    }

    init(_ record: OptOutRecord, recordedMillis: Int64) {
        self.record = record
        self.recordedMillis = recordedMillis
    }

    init?(reading row: some StoreRowReader) throws {
        self.init(OptOutRecord(firstLevelHash: try row.blob(0) ?? [], advertisingID: try row.blob(1), optedOutSinceSeconds: try row.int64(required: 2)),
                  recordedMillis: try row.int64(required: 3))
    }
}

/// The wall clock, for stamping rows the store writes itself.
enum StoreClock {
    static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
