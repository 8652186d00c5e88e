import Foundation
import UIDProtocol
import UIDStore

/// The file readers of `import optout` and `import core`. Their input comes from an operator's
/// own files, not the network, but a malformed file must still end in an error, not a crash.
enum ImportTargets {
    static let optOutFile = FuzzTarget(
        name: "optout-file",
        summary: "opt-out delta/partition files: 72-byte entries, advertising ids, times",
        seeds: {
            let entry = OptOutFileReader.entry(firstLevelHash: Array(repeating: 7, count: 32), advertisingID: Array(repeating: 9, count: 32), seconds: 1_700_000_000)
            return [entry, entry + entry, Array(entry.prefix(40)), []]
        },
        run: { bytes in
            _ = try? OptOutFileReader.parse(Data(bytes), file: "fuzz.dat")
            return nil
        }
    )

    /// The fuzzed bytes, split at NUL bytes, become the store's data files in this order; the
    /// metadata that points at them is fixed, except the salts' and the runtime config's.
    static let files = [
        "clients/clients.json", "keysets/keysets.json", "keyset_keys/keyset_keys.json", "sites/sites.json",
        "client_side_keypairs/client_side_keypairs.json", "salts/metadata.json", "salts/salts.txt.1", "runtime_config/metadata.json",
    ]

    static let fixedMetadata = [
        "clients/metadata.json": #"{"version":1,"client_keys":{"location":"/clients/clients.json"}}"#,
        "keysets/metadata.json": #"{"version":1,"keysets":{"location":"/keysets/keysets.json"}}"#,
        "keyset_keys/metadata.json": #"{"version":1,"keyset_keys":{"location":"/keyset_keys/keyset_keys.json"}}"#,
        "sites/metadata.json": #"{"version":1,"sites":{"location":"/sites/sites.json"}}"#,
        "client_side_keypairs/metadata.json": #"{"version":1,"client_side_keypairs":{"location":"/client_side_keypairs/client_side_keypairs.json"}}"#,
    ]

    /// A small valid export in the reference's layout (the shapes of its own test data set).
    static let validExport = [
        #"[{"key_id":"UID2-C-L-999-fCXrM","secret":"DzBzbjTJcYL0swDtFs2krRNu+g1Eokm2tBU4dEuD0Wk=","name":"Special","contact":"Special","created":1609459200,"roles":["MAPPER","GENERATOR","NOT_A_ROLE"],"disabled":false,"site_id":999,"key_hash":"FIUDeEqA+O2hW7PXdAJI/NAnJleHX+6QU46avhal5Wy4th0ZEKvG5eoFk8CFvqxGkMFlHwGG+DWTU+ZdwiHdQg==","key_salt":"RvCHAXUo/1pR3Nun5HuzcRJvlC7vT6gZMmsGPzyOONA="}]"#,
        #"[{"keyset_id":-1,"site_id":-1,"name":"Master","allowed_sites":null,"created":1617149276,"enabled":true,"default":true},{"keyset_id":-2,"site_id":-2,"name":"Refresh","allowed_sites":[],"created":1617149276,"enabled":true,"default":true},{"keyset_id":2,"site_id":2,"name":"Publisher","allowed_sites":[2,3],"created":1617149276,"enabled":true,"default":true}]"#,
        #"[{"id":101,"keyset_id":-1,"created":1622691044,"activates":1687635529,"expires":4088629662,"secret":"vPdQIoN1nTwXIQoH4/GcHOAct7ymyrGUKXNQhgmq+E8="},{"id":102,"keyset_id":-2,"created":1622691044,"activates":1687635529,"expires":4088629662,"secret":"vPdQIoN1nTwXIQoH4/GcHOAct7ymyrGUKXNQhgmq+E8="}]"#,
        #"[{"id":999,"name":"Site","enabled":true,"domain_names":["example.com"],"app_names":["com.example.app"]}]"#,
        #"[{"subscription_id":"4WvryDGbR5","public_key":"UID2-X-L-MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtXJdTSZAYHvoRDWiehMHoWF1BNPuqLs5w2ZHiAZ1IJc7O4/z0ojPTB0V+KYX/wxQK0hxx6kxCvHj335eI/ZQsQ==","private_key":"UID2-Y-L-MEECAQAwEwYHKoZIzj0CAQYIKoZIzj0DAQcEJzAlAgEBBCC5kOSRVD+qhAZqf0L4LGbmAhdy5HpIptwXE72jxhwo6w==","site_id":999,"contact":"x","created":1692034991,"disabled":false}]"#,
        #"{"version":1,"first_level":"fOGY/aRE44peL23i+cE9MkJrzmEeNZZziNZBfq7qqk8=","id_prefix":"b","id_secret":"HF6Qz42HBbVHINxhh191dB09BCuTWyBkNtrNicO4ZCw=","salts":[{"effective":1670796729291,"expires":253370793600000,"location":"/salts/salts.txt.1","size":3}]}"#,
        "1000000,1806364800001,vgv1BwiNRCW7F3VcNXHlZh+7oHJ4G4gCshbGcVOLnss=,1814140800000,vgv1BwiNRCW7F3VcNXHlZh+7oHJ4G4gCshbGcVOLnsS=,,,,,,\n1000001,1786924800001,vgv1BwiNRCW7F3VcNXHlZh+7oHJ4G4gCshbGcVOLnst=\n1000002,1798588800001,,1806364800000,,2100002,key12345key12345key12345key12340,salt1234salt1234salt1234salt1230,2000002,key12345key12345key12345key12345,salt1234salt1234salt1234salt1234\n",
        #"{"version":1,"runtime_config":{"identity_token_expires_after_seconds":3600,"refresh_token_expires_after_seconds":86400,"refresh_identity_token_after_seconds":900,"sharing_token_expiry_seconds":2592000,"identity_environment":"test"}}"#,
    ]

    private static let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("uid-fuzz-core-\(getpid())")
        for (file, text) in fixedMetadata {
            let path = url.appendingPathComponent(file)
            try? FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? Data(text.utf8).write(to: path)
        }
        for file in files {
            try? FileManager.default.createDirectory(at: url.appendingPathComponent(file).deletingLastPathComponent(), withIntermediateDirectories: true)
        }
        return url
    }()

    static let coreImport = FuzzTarget(
        name: "core-import",
        summary: "core store import: metadata, clients, keysets, keys, sites, key pairs, salt CSV, runtime config",
        seeds: {
            let joined = validExport.map { Array($0.utf8) }.joined(separator: [0])
            return [Array(joined)]
        },
        run: { bytes in
            let parts = bytes.split(separator: 0, omittingEmptySubsequences: false)
            for (index, file) in files.enumerated() {
                let content = index < parts.count ? Data(parts[index]) : Data()
                try? content.write(to: directory.appendingPathComponent(file))
            }
            _ = try? CoreImport.read(directory: directory, nowMillis: FuzzWorld.nowMillis)
            return nil
        }
    )
}
