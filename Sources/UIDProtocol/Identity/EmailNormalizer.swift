/// Server-side email normalization, exactly as the reference operator's state machine
/// (docs/PROTOCOL.md#email-normalization): ASCII-only lower-casing, spaces dropped from the local part, trailing spaces
/// dropped from the domain, and the gmail rule (dots removed, `+suffix` cut) for `gmail.com` only.
public enum EmailNormalizer {
    public static func normalize(_ input: String) -> String? {
        normalizedUTF8(input).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The normalized address as UTF-8 bytes, ready to hash without building a `String`.
    public static func normalizedUTF8(_ input: String) -> [UInt8]? {
        withNormalizedUTF8(input) { Array($0) }
    }

    /// `body` applied to the normalized address's UTF-8 bytes, or nil for an invalid address. The
    /// address is built in one temporary buffer (on the stack for any usual length), so an identity
    /// map normalizes thousands of emails without allocating.
    public static func withNormalizedUTF8<Result>(_ input: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result? {
        var input = input
        return input.withUTF8 { utf8 in
            let count = utf8.count
            guard count > 0 else { return nil }
            // Three regions of `count` bytes: the local part as typed, the local part under the
            // gmail rule, the domain. Each receives at most `count` bytes.
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 3 * count) { buffer -> Result? in
                guard let base = buffer.baseAddress else { return nil }
                let plainLocal = base, gmailLocal = base + count, domain = base + 2 * count
                var plainCount = 0, gmailCount = 0, domainCount = 0
                var pendingDomainSpaces = 0
                var inDomain = false
                var gmailStopped = false

                // Working on UTF-8 bytes is safe: every byte we inspect or change is ASCII, and bytes of
                // multi-byte characters (all ≥ 0x80) pass through untouched and in order.
                for var byte in utf8 {
                    if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte |= 0x20 }
                    if inDomain {
                        if byte == UInt8(ascii: "@") { return nil }
                        if byte == UInt8(ascii: " ") {
                            pendingDomainSpaces += 1
                        } else {
                            for _ in 0..<pendingDomainSpaces {
                                domain[domainCount] = UInt8(ascii: " ")
                                domainCount += 1
                            }
                            pendingDomainSpaces = 0
                            domain[domainCount] = byte
                            domainCount += 1
                        }
                        continue
                    }
                    switch byte {
                    case UInt8(ascii: "@"):
                        inDomain = true
                    case UInt8(ascii: " "):
                        continue
                    default:
                        plainLocal[plainCount] = byte
                        plainCount += 1
                        if byte == UInt8(ascii: "+") { gmailStopped = true }
                        if !gmailStopped && byte != UInt8(ascii: ".") {
                            gmailLocal[gmailCount] = byte
                            gmailCount += 1
                        }
                    }
                }
                guard inDomain, domainCount > 0 else { return nil }
                let isGmail = isGmailDomain(UnsafeBufferPointer(start: domain, count: domainCount))
                let local = isGmail ? gmailLocal : plainLocal
                let localCount = isGmail ? gmailCount : plainCount
                guard localCount > 0 else { return nil }
                // local ‖ "@" ‖ domain fits in the local part's own region: the three counts add up
                // to at most `count`, and the domain region starts after both local regions.
                local[localCount] = UInt8(ascii: "@")
                (local + localCount + 1).update(from: domain, count: domainCount)
                return body(UnsafeBufferPointer(start: local, count: localCount + 1 + domainCount))
            }
        }
    }
}

extension EmailNormalizer {
    private static let gmailDomain: StaticString = "gmail.com"

    /// Whether `domain` is exactly `gmail.com`: a length check, then one `memcmp`-like pass over
    /// the literal's bytes (a generic `elementsEqual` against `String.UTF8View` cost more than the
    /// rest of the check, once per mapped email).
    static func isGmailDomain(_ domain: UnsafeBufferPointer<UInt8>) -> Bool {
        let literal = UnsafeBufferPointer(start: gmailDomain.utf8Start, count: gmailDomain.utf8CodeUnitCount)
        guard domain.count == literal.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<literal.count { difference |= domain[index] ^ literal[index] }
        return difference == 0
    }
}

/// Phones are not normalized: `+` followed by 10–15 ASCII digits, hashed as given (docs/PROTOCOL.md#phone-validation).
public enum PhoneValidator {
    public static func isValid(_ phone: String) -> Bool {
        let utf8 = phone.utf8
        guard utf8.first == UInt8(ascii: "+") else { return false }
        let digits = utf8.dropFirst()
        return (10...15).contains(digits.count)
            && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}

/// `email_hash`/`phone_hash`: 44 base64 characters, or 64 hex characters (docs/PROTOCOL.md#hashed-inputs).
public enum HashedInput {
    /// The hash's bytes (32, or 33 for 44 base64 characters without padding), or nil when the text
    /// is neither form. Decoded inline: an identity map decodes thousands of them per request.
    public static func decode(_ value: String) -> InlineBytes? {
        var value = value
        return value.withUTF8 { utf8 in
            switch utf8.count {
            case 44:
                return InlineBytes(count: Base64.decodedCapacity(44), writingUpTo: { output in
                    Base64.decode(utf8: utf8, alphabet: .standard, into: output.bindMemory(to: UInt8.self))
                })
            case 64:
                return InlineBytes(count: 32, writingUpTo: { output in
                    for index in 0..<32 {
                        guard let high = hexValue(utf8[2 * index]), let low = hexValue(utf8[2 * index + 1]) else { return nil }
                        output[index] = high << 4 | low
                    }
                    return 32
                })
            default:
                return nil
            }
        }
    }

    private static func hexValue(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
