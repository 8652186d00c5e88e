// IAB TCF v2 consent string ("TC string") decoding and the EUID consent rule.
//
// Deliberately dependency-free (no Foundation): the string arrives from untrusted
// clients, so every read is bounds-checked and decoding fails with a typed error
// instead of trapping.

/// A decoded IAB Transparency & Consent Framework v2 consent string.
///
/// Only the core segment is interpreted: it carries everything the EUID consent
/// rule looks at (purpose consents, purpose legitimate-interest transparency, and
/// the per-vendor consent and legitimate-interest sections). Publisher
/// restrictions and the optional trailing segments are not needed by the rule and
/// are ignored, although each trailing segment must still be valid base64url.
public struct TCFConsentString: Sendable, Equatable {
    /// Why a string could not be decoded. Callers treat every case the same way
    /// (the request's consent string is invalid); the cases exist for diagnostics.
    public enum DecodingError: Error, Equatable, Sendable {
        /// The string, or its core segment, is empty.
        case empty
        /// A segment contains a character outside the base64url alphabet, misplaced
        /// padding, or a length that cannot encode whole bytes.
        case invalidBase64
        /// A field, vendor bitfield or vendor range list runs past the end of the data.
        case truncated
        /// The version field is not 2. TCF v1 strings (version 1) have a different
        /// layout and are rejected rather than misread.
        case unsupportedVersion(Int)
        /// A vendor range entry is malformed: vendor id 0, end before start, or an id
        /// above the section's MaxVendorId.
        case invalidVendorRange
    }

    /// The one TC string format version this decoder understands.
    public static let supportedVersion = 2

    /// The encoding format version (always `supportedVersion` once decoded).
    public let version: Int
    /// The CMP that produced the string; kept for logging and diagnostics.
    public let cmpId: Int
    /// The Global Vendor List version the string was created against.
    public let vendorListVersion: Int
    /// The TCF policy version the string was created under.
    public let policyVersion: Int
    /// Special feature opt-ins, 12 bits: special feature 1 is bit 11 (the first bit
    /// in the string). Not part of the EUID rule; exposed for completeness.
    public let specialFeatureOptIns: UInt32
    /// Purpose consents, 24 bits: purpose 1 is bit 23 (the first bit in the string).
    public let purposesConsent: UInt32
    /// Purpose legitimate-interest transparency, 24 bits, same layout as
    /// `purposesConsent`.
    public let purposesLegitimateInterest: UInt32

    private let vendorConsents: VendorSet
    private let vendorLegitimateInterests: VendorSet

    /// Decodes a TC string. The first '.'-separated segment is the core segment.
    /// Base64url padding ('=') is tolerated at the end of each segment.
    public init(_ text: some StringProtocol) throws(DecodingError) {
        let utf8 = Array(text.utf8)
        guard !utf8.isEmpty else { throw .empty }

        var segments: [ArraySlice<UInt8>] = []
        var start = 0
        for index in utf8.indices where utf8[index] == UInt8(ascii: ".") {
            segments.append(utf8[start..<index])
            start = index + 1
        }
        segments.append(utf8[start...])

        guard let core = segments.first, !core.isEmpty else { throw .empty }
        let bytes = try Base64URL.decode(core)
        for segment in segments.dropFirst() {
            _ = try Base64URL.decode(segment)
        }

        var reader = BitReader(bytes)
        let version = try reader.int(6)
        guard version == Self.supportedVersion else { throw .unsupportedVersion(version) }
        self.version = version
        try reader.skip(36 + 36)  // Created, LastUpdated (deciseconds since epoch)
        cmpId = try reader.int(12)
        try reader.skip(12 + 6 + 12)  // CmpVersion, ConsentScreen, ConsentLanguage
        vendorListVersion = try reader.int(12)
        policyVersion = try reader.int(6)
        try reader.skip(1 + 1)  // IsServiceSpecific, UseNonStandardTexts
        specialFeatureOptIns = UInt32(try reader.bits(12))
        purposesConsent = UInt32(try reader.bits(24))
        purposesLegitimateInterest = UInt32(try reader.bits(24))
        try reader.skip(1 + 12)  // PurposeOneTreatment, PublisherCC
        vendorConsents = try VendorSet(reading: &reader)
        vendorLegitimateInterests = try VendorSet(reading: &reader)
        // Publisher restrictions follow; the consent rule does not use them.
    }

    /// Whether the user consented to `purpose` (1...24). Out-of-range purposes are
    /// never granted.
    public func hasPurposeConsent(_ purpose: Int) -> Bool {
        Self.purposeBit(purpose, in: purposesConsent)
    }

    /// Whether legitimate interest for `purpose` (1...24) was disclosed and not
    /// objected to.
    public func hasPurposeLegitimateInterest(_ purpose: Int) -> Bool {
        Self.purposeBit(purpose, in: purposesLegitimateInterest)
    }

    /// Whether the user opted in to special feature `feature` (1...12).
    public func hasSpecialFeatureOptIn(_ feature: Int) -> Bool {
        guard (1...12).contains(feature) else { return false }
        return specialFeatureOptIns & (1 << UInt32(12 - feature)) != 0
    }

    /// Whether vendor `vendor` (1-based GVL id) has consent. Ids above the
    /// section's MaxVendorId have none.
    public func vendorHasConsent(_ vendor: Int) -> Bool {
        vendorConsents.contains(vendor)
    }

    /// Whether vendor `vendor` (1-based GVL id) has legitimate-interest
    /// transparency established.
    public func vendorHasLegitimateInterest(_ vendor: Int) -> Bool {
        vendorLegitimateInterests.contains(vendor)
    }

    /// The reference operator's rule: the vendor's usable purposes are the purpose
    /// consents if the vendor has consent, plus the purpose legitimate interests if
    /// the vendor has legitimate interest; processing is allowed when that union
    /// covers every required purpose. Purposes outside 1...24 can never be covered.
    public func allowsProcessing(
        vendor: Int = TCFConsentString.euidVendorId,
        requiredPurposes: [Int] = TCFConsentString.euidRequiredPurposes
    ) -> Bool {
        var granted: UInt32 = 0
        if vendorHasConsent(vendor) { granted |= purposesConsent }
        if vendorHasLegitimateInterest(vendor) { granted |= purposesLegitimateInterest }
        return requiredPurposes.allSatisfy { Self.purposeBit($0, in: granted) }
    }

    private static func purposeBit(_ purpose: Int, in field: UInt32) -> Bool {
        guard (1...24).contains(purpose) else { return false }
        return field & (1 << UInt32(24 - purpose)) != 0
    }
}

extension TCFConsentString {
    /// The GVL vendor id the EUID operator checks consent for.
    public static let euidVendorId = 21
    /// Purposes EUID needs (store/access info, basic ads, ads profile, personalised
    /// ads, measure ad performance, develop products). Special features are not
    /// required.
    public static let euidRequiredPurposes = [1, 2, 3, 4, 7, 10]
}

// MARK: - Vendor sections

extension TCFConsentString {
    /// One vendor section (consent or legitimate interest), kept in whichever
    /// encoding the string used so a large range list never expands into a bitmap.
    private struct VendorSet: Sendable, Equatable {
        private enum Storage: Sendable, Equatable {
            /// Vendor v is bit (v - 1) % 64 of word (v - 1) / 64.
            case bitfield([UInt64])
            case ranges([ClosedRange<Int>])
        }

        private let maxVendorId: Int
        private let storage: Storage

        init(reading reader: inout BitReader) throws(DecodingError) {
            maxVendorId = try reader.int(16)
            if try reader.bool() {
                let count = try reader.int(12)
                var ranges: [ClosedRange<Int>] = []
                ranges.reserveCapacity(count)
                for _ in 0..<count {
                    let isRange = try reader.bool()
                    let first = try reader.int(16)
                    var last = first
                    if isRange { last = try reader.int(16) }
                    guard first >= 1, first <= last, last <= maxVendorId else {
                        throw .invalidVendorRange
                    }
                    ranges.append(first...last)
                }
                storage = .ranges(ranges)
            } else {
                // Check the whole bitfield fits before allocating for it.
                guard reader.remaining >= maxVendorId else { throw .truncated }
                var words = [UInt64](repeating: 0, count: (maxVendorId + 63) / 64)
                for index in 0..<maxVendorId {
                    if try reader.bool() { words[index / 64] |= 1 << UInt64(index % 64) }
                }
                storage = .bitfield(words)
            }
        }

        func contains(_ vendor: Int) -> Bool {
            guard vendor >= 1, vendor <= maxVendorId else { return false }
            switch storage {
            case .bitfield(let words):
                let index = vendor - 1
                return words[index / 64] & (1 << UInt64(index % 64)) != 0
            case .ranges(let ranges):
                return ranges.contains { $0.contains(vendor) }
            }
        }
    }
}

// MARK: - Bit-level decoding

extension TCFConsentString {
    /// Reads big-endian bit fields (most significant bit first), as the TC string
    /// format defines them. Every read is bounds-checked.
    private struct BitReader {
        private let bytes: [UInt8]
        private var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var remaining: Int { bytes.count * 8 - position }

        /// Reads `count` (0...64) bits as an unsigned integer.
        mutating func bits(_ count: Int) throws(DecodingError) -> UInt64 {
            guard count <= remaining else { throw .truncated }
            var value: UInt64 = 0
            for _ in 0..<count {
                let byte = bytes[position / 8]
                let bit = (byte >> UInt8(7 - position % 8)) & 1
                value = value << 1 | UInt64(bit)
                position += 1
            }
            return value
        }

        mutating func int(_ count: Int) throws(DecodingError) -> Int {
            Int(try bits(count))
        }

        mutating func bool() throws(DecodingError) -> Bool {
            try bits(1) == 1
        }

        mutating func skip(_ count: Int) throws(DecodingError) {
            guard count <= remaining else { throw .truncated }
            position += count
        }
    }

    /// RFC 4648 §5 "base64url" decoding. TC strings are written without padding, but
    /// some producers append '=', so trailing padding is accepted and ignored.
    private enum Base64URL {
        static func decode(_ text: ArraySlice<UInt8>) throws(DecodingError) -> [UInt8] {
            var end = text.endIndex
            while end > text.startIndex, text[end - 1] == UInt8(ascii: "=") { end -= 1 }
            let body = text[text.startIndex..<end]
            let padding = text.endIndex - end
            // A single leftover character holds only 6 bits: not a whole byte.
            guard padding <= 2, body.count % 4 != 1 else { throw .invalidBase64 }

            var output: [UInt8] = []
            output.reserveCapacity(body.count * 3 / 4)
            var accumulator: UInt32 = 0
            var pendingBits = 0
            for character in body {
                accumulator = accumulator << 6 | UInt32(try sextet(character))
                pendingBits += 6
                if pendingBits >= 8 {
                    pendingBits -= 8
                    output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(pendingBits)))
                    accumulator &= (1 << UInt32(pendingBits)) - 1
                }
            }
            return output
        }

        private static func sextet(_ character: UInt8) throws(DecodingError) -> UInt8 {
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return character - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return character - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"): return 62
            case UInt8(ascii: "_"): return 63
            default: throw .invalidBase64
            }
        }
    }
}
