import UIDOperatorCore
@_spi(Differential) import UIDProtocol

/// Decoders of text fields: consent strings, base64, identities, Origin headers and app names.
enum TextTargets {
    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static let tcfConsent = FuzzTarget(
        name: "tcf-consent",
        summary: "IAB TCF v2 consent strings (EUID generate's tcf_consent_string)",
        seeds: {
            [
                // The unit tests' vectors: enough for vendor 21, and the same without purpose 1;
                // then a second segment, padding and a version-1 prefix.
                "CPehNtWPehNtWABAMBFRACBoALAAAEJAAIYgAKwAQAKgArABAAqAAA",
                "CPehXK9PehXK9ABAMBFRACBoADAAAEJAAIYgAKwAQAKgArABAAqAAA",
                "CPehNtWPehNtWABAMBFRACBoALAAAEJAAIYgAKwAQAKgArABAAqAAA.YAAAAAAAAAA",
                "CPehNtWPehNtWABAMBFRACBoALAAAEJAAIYgAKwAQAKgArABAAqAAA==",
                "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA",
            ].map { Array($0.utf8) }
        },
        run: { bytes in
            guard let consent = try? TCFConsentString(text(bytes)) else { return nil }
            _ = consent.allowsProcessing()
            _ = consent.allowsProcessing(vendor: Int.max, requiredPurposes: [Int.min, 0, 1, 24, 25, Int.max])
            _ = consent.vendorHasConsent(Int.min)
            _ = consent.vendorHasLegitimateInterest(Int.max)
            _ = consent.hasSpecialFeatureOptIn(Int.min)
            return nil
        }
    )

    static let base64 = FuzzTarget(
        name: "base64",
        summary: "base64 in the standard and URL-safe alphabets, padded or not",
        seeds: { ["", "AA==", "QQ", "AAAA", "-_-_", "+/+/", "A===", "Zm9vYmFy", "Zm9vYmE"].map { Array($0.utf8) } },
        run: { bytes in
            for alphabet in [Base64.Alphabet.standard, .url] {
                if let decoded = Base64.decode(text(bytes), alphabet: alphabet) {
                    let again = Base64.encode(decoded, alphabet: alphabet)
                    guard Base64.decode(again, alphabet: alphabet) == decoded else { return "re-encoding \(decoded) does not decode back" }
                }
                guard Base64.decode(Base64.encode(bytes, alphabet: alphabet), alphabet: alphabet) == bytes else {
                    return "base64 of \(bytes.count) bytes does not round-trip"
                }
            }
            return nil
        }
    )

    static let email = FuzzTarget(
        name: "email",
        summary: "email normalization (gmail dots and plus tags, trimming, case) and hashing",
        seeds: {
            ["user@example.com", " User.Name+tag@Gmail.com ", "@", "a@", "@b", "a@b@c", "jo\u{00EB}@ex.com", "..@gmail.com", "+@googlemail.com"]
                .map { Array($0.utf8) }
        },
        run: { bytes in
            let value = text(bytes)
            if let normalized = EmailNormalizer.normalize(value) {
                guard EmailNormalizer.normalizedUTF8(value) == Array(normalized.utf8) else {
                    return "the two normalizations of one email differ"
                }
            }
            _ = IdentityHash(kind: .email, value: value)
            _ = IdentityHash(kind: .emailHash, value: value)
            return nil
        }
    )

    static let phone = FuzzTarget(
        name: "phone",
        summary: "phone validation (+ and 10-15 digits) and hashed-identity decoding (base64 or hex)",
        seeds: {
            ["+12345678901", "+00000000000", "+1234567890123456", "12345678901", "+1234567890a",
             "tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ=", String(repeating: "ab", count: 32)].map { Array($0.utf8) }
        },
        run: { bytes in
            let value = text(bytes)
            _ = PhoneValidator.isValid(value)
            _ = IdentityHash(kind: .phone, value: value)
            // Any 44 base64 characters are a hash to the reference (31 to 33 bytes), so only
            // crashes count here.
            _ = HashedInput.decode(value)
            return nil
        }
    )

    static let hashids = FuzzTarget(
        name: "hashids",
        summary: "Hashids bucket ids: any salt, minimum length and numbers (negative ones included); the tables' path must agree with the general algorithm",
        seeds: {
            [FuzzInput.with(9, Array("HF6Qz42HBbVHINxhh191dB09BCuTWyBkNtrNicO4ZCw=".utf8) + [0, 0, 0, 0, 0, 0x0F, 0x42, 0x40])]
        },
        run: { bytes in
            let input = FuzzInput(bytes)
            // The last 8 bytes (when present) are numbers; the rest is the salt.
            let saltBytes = input.rest.count > 8 ? Array(input.rest.dropLast(8)) : input.rest
            var numbers: [Int64] = []
            if input.rest.count >= 8 {
                var reader = ByteReader(Array(input.rest.suffix(8)))
                if let value = reader.readInteger(as: Int64.self) { numbers = [value, value & 0xFFFF, 0] }
            }
            let encoder = Hashids(salt: text(saltBytes), minLength: Int(input.selector % 32))
            _ = encoder.encode(numbers)
            _ = encoder.encode(numbers.map { $0 & Int64.max })
            // Identity map v2 writes its bucket ids through the tables (`withEncodedSingle`); a
            // wrong one would be a silent difference from the reference.
            var workspace = Hashids.Workspace()
            for number in numbers + numbers.map({ $0 & Int64.max }) + numbers.map({ $0 & 0xFFFF_FFFF }) {
                guard let single = encoder.encodeSingle(number) else { continue }
                let general = encoder.encodeInGeneral(number, using: &workspace)
                if single != general { return "bucket id of \(number): tables wrote \(single), the general algorithm \(general)" }
            }
            return nil
        }
    )

    static let origin = FuzzTarget(
        name: "origin",
        summary: "client-side Origin headers and app names against a site's domains (Public Suffix List rules)",
        seeds: {
            ["https://www.example.com", "http://localhost:8080", "https://a.b.example.co.uk:443/path?q#f", "https://www.ck",
             "https://x.city.kawasaki.jp", "https://[::1]:80", "https://user@example.com", "null", "https://EXAMPLE.com.",
             "com.example.app", "https://exa\u{3002}mple.com"].map { Array($0.utf8) }
        },
        run: { bytes in
            let world = FuzzWorld.shared
            let value = text(bytes)
            _ = world.originPolicy.isAllowed(origin: value, allowedDomains: ["example.com", "example.co.uk", "localhost"])
            _ = world.originPolicy.isAllowed(appName: value, allowedAppNames: ["com.example.app"])
            _ = world.originPolicy.siteDomain(ofOrigin: value)
            _ = world.originPolicy.publicSuffixList.registrableDomain(of: value)
            return nil
        }
    )
}
