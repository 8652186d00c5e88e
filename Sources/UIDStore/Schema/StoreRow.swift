import UIDOperatorCore
import UIDProtocol

/// A model stored as one row of `table`: its encoding and decoding, written once for both backends.
protocol StoreRow {
    static var table: StoreTable { get }
    /// The row's values in `table.columns` order.
    var storeValues: [StoreValue] { get }
    /// Nil for a row whose stored values do not make a model (say, a secret that is not base64):
    /// loading skips it.
    init?(reading row: some StoreRowReader) throws
}

extension StoreRow {
    /// The values `table.update` binds: the updatable columns, then the key.
    var updateValues: [StoreValue] {
        let values = Dictionary(zip(Self.table.columns, storeValues)) { first, _ in first }
        return (Self.table.updatable + [Self.table.key]).compactMap { values[$0] }
    }
}

extension Site: StoreRow {
    static var table: StoreTable { .sites }

    var storeValues: [StoreValue] {
        [.int32(id), .text(name), .flag(enabled), .json(domainNames), .json(appNames), .int64(createdSeconds)]
    }

    init?(reading row: some StoreRowReader) throws {
        self.init(id: try row.int32(required: 0), name: try row.text(required: 1), enabled: try row.flag(2),
                  domainNames: JSONList.strings(try row.text(required: 3)), appNames: JSONList.strings(try row.text(required: 4)),
                  createdSeconds: try row.int64(required: 5))
    }
}

extension ClientKey: StoreRow {
    static var table: StoreTable { .clients }

    var storeValues: [StoreValue] {
        [.text(keyID), .base64(keyHash), .base64(keySalt), .base64(secret), .text(name), .text(contact), .int32(siteID),
         .json(roles.map(\.rawValue).sorted()), .flag(disabled), .int32(serviceID), .int64(createdSeconds)]
    }

    init?(reading row: some StoreRowReader) throws {
        guard let hash = Base64.decode(try row.text(required: 1)), let salt = Base64.decode(try row.text(required: 2)),
              let secret = Base64.decode(try row.text(required: 3)) else { return nil }
        self.init(
            keyID: try row.text(required: 0), keyHash: hash, keySalt: salt, secret: secret, name: try row.text(required: 4),
            contact: try row.text(required: 5), siteID: try row.int32(required: 6),
            roles: Set(JSONList.strings(try row.text(required: 7)).map(Role.init(parsing:))), disabled: try row.flag(8),
            serviceID: try row.int32(required: 9), createdSeconds: try row.int64(required: 10)
        )
    }
}

extension Keyset: StoreRow {
    static var table: StoreTable { .keysets }

    var storeValues: [StoreValue] {
        [.int32(id), .int32(siteID), .text(name), .text(allowedSites.map(JSONList.encode)), .int64(createdSeconds), .flag(enabled), .flag(isDefault)]
    }

    init?(reading row: some StoreRowReader) throws {
        self.init(id: try row.int32(required: 0), siteID: try row.int32(required: 1), name: try row.text(required: 2),
                  allowedSites: try row.text(3).map { JSONList.strings($0).compactMap { Int32($0) } },
                  createdSeconds: try row.int64(required: 4), enabled: try row.flag(5), isDefault: try row.flag(6))
    }
}

extension KeysetKey: StoreRow {
    static var table: StoreTable { .keys }

    var storeValues: [StoreValue] {
        [.int32(id), .int32(keysetID), .int64(createdSeconds), .int64(activatesSeconds), .int64(expiresSeconds), .base64(secret)]
    }

    init?(reading row: some StoreRowReader) throws {
        guard let secret = Base64.decode(try row.text(required: 5)) else { return nil }
        self.init(id: try row.int32(required: 0), keysetID: try row.int32(required: 1), createdSeconds: try row.int64(required: 2),
                  activatesSeconds: try row.int64(required: 3), expiresSeconds: try row.int64(required: 4), secret: secret)
    }
}

extension ClientSideKeypair: StoreRow {
    static var table: StoreTable { .keypairs }

    var storeValues: [StoreValue] {
        [.text(subscriptionID), .int32(siteID), .text(publicKeyText), .text(privateKeyText), .text(contact), .text(name),
         .int64(createdSeconds), .flag(disabled)]
    }

    init?(reading row: some StoreRowReader) throws {
        self.init(subscriptionID: try row.text(required: 0), siteID: try row.int32(required: 1), publicKeyText: try row.text(required: 2),
                  privateKeyText: try row.text(required: 3), contact: try row.text(required: 4), name: try row.text(required: 5),
                  createdSeconds: try row.int64(required: 6), disabled: try row.flag(7))
    }
}
