import Testing
import UIDProtocol

// Reference strings from the reference operator's tests. Both give vendor 21 consent and
// legitimate interest, with purpose consents {1, 3, 4} (the second lacks 1) and purpose
// legitimate interests {2, 7, 10}.
private let sufficientForVendor21 = "CPehNtWPehNtWABAMBFRACBoALAAAEJAAIYgAKwAQAKgArABAAqAAA"
private let missingPurpose1 = "CPehXK9PehXK9ABAMBFRACBoADAAAEJAAIYgAKwAQAKgArABAAqAAA"

private typealias TCFError = TCFConsentString.DecodingError

// MARK: - Reference strings

@Test func referenceStringWithAllPurposesIsSufficient() throws {
    let consent = try TCFConsentString(sufficientForVendor21)
    #expect(consent.version == 2)
    #expect(consent.vendorHasConsent(21))
    #expect(consent.vendorHasLegitimateInterest(21))
    #expect((1...24).filter(consent.hasPurposeConsent) == [1, 3, 4])
    #expect((1...24).filter(consent.hasPurposeLegitimateInterest) == [2, 7, 10])
    #expect(consent.allowsProcessing(vendor: 21, requiredPurposes: TCFConsentString.euidRequiredPurposes))
    #expect(consent.allowsProcessing())
    // Another vendor has neither consent nor legitimate interest.
    #expect(!consent.allowsProcessing(vendor: 20, requiredPurposes: TCFConsentString.euidRequiredPurposes))
}

@Test func referenceStringMissingPurposeOneIsInsufficient() throws {
    let consent = try TCFConsentString(missingPurpose1)
    #expect(!consent.hasPurposeConsent(1))
    #expect(!consent.hasPurposeLegitimateInterest(1))
    #expect(consent.hasPurposeConsent(3))
    #expect(!consent.allowsProcessing(vendor: 21, requiredPurposes: TCFConsentString.euidRequiredPurposes))
    // Everything except purpose 1 is still covered.
    #expect(consent.allowsProcessing(vendor: 21, requiredPurposes: [2, 3, 4, 7, 10]))
}

@Test func specialFeaturesAreNotRequired() throws {
    var builder = TCStringBuilder()
    builder.purposesConsent = Set(TCFConsentString.euidRequiredPurposes)
    builder.vendorConsents = .bitfield([21])
    builder.specialFeatureOptIns = []
    let consent = try TCFConsentString(builder.encode())
    #expect(consent.specialFeatureOptIns == 0)
    #expect(consent.allowsProcessing())

    builder.specialFeatureOptIns = [1, 12]
    let optedIn = try TCFConsentString(builder.encode())
    #expect(optedIn.hasSpecialFeatureOptIn(1))
    #expect(optedIn.hasSpecialFeatureOptIn(12))
    #expect(!optedIn.hasSpecialFeatureOptIn(2))
    #expect(!optedIn.hasSpecialFeatureOptIn(0))
    #expect(!optedIn.hasSpecialFeatureOptIn(13))
}

// MARK: - Invalid strings

@Test func invalidStringsFailToDecode() {
    #expect(throws: TCFError.unsupportedVersion(34)) { try TCFConsentString("invalid_consent_string") }
    #expect(throws: TCFError.empty) { try TCFConsentString("") }
    #expect(throws: TCFError.empty) { try TCFConsentString(".\(sufficientForVendor21)") }
    #expect(throws: TCFError.invalidBase64) { try TCFConsentString("CPeh NtW") }
    #expect(throws: TCFError.invalidBase64) { try TCFConsentString("CPeh+NtW") }
    #expect(throws: TCFError.invalidBase64) { try TCFConsentString("CPe=hNtW") }
    #expect(throws: TCFError.invalidBase64) { try TCFConsentString("CPehN") }  // 5 characters: 30 bits
    #expect(throws: TCFError.invalidBase64) { try TCFConsentString("\(sufficientForVendor21).!!") }
}

@Test func truncatedMidFieldFailsToDecode() {
    // 30 characters = 22 bytes = 176 bits: ends exactly where PurposesLITransparency starts.
    let prefix = String(sufficientForVendor21.prefix(30))
    #expect(throws: TCFError.truncated) { try TCFConsentString(prefix) }
    #expect(throws: TCFError.truncated) { try TCFConsentString("CA") }
}

@Test func versionOneIsRejected() {
    var builder = TCStringBuilder()
    builder.version = 1
    #expect(throws: TCFError.unsupportedVersion(1)) { try TCFConsentString(builder.encode()) }
}

@Test func vendorBitfieldRunningPastTheEndIsTruncated() {
    var writer = TCStringBuilder().coreFieldsWriter()
    writer.append(1000, bits: 16)  // MaxVendorId
    writer.append(0, bits: 1)  // bitfield encoding, but only 8 bits follow
    writer.append(0xFF, bits: 8)
    #expect(throws: TCFError.truncated) { try TCFConsentString(writer.base64URL()) }
}

@Test func vendorRangesRunningPastTheEndAreTruncated() {
    // NumEntries says 3 but the string ends after the first entry.
    var writer = TCStringBuilder().coreFieldsWriter()
    TCStringBuilder.VendorSection.ranges(maxVendorId: 100, entries: [.single(21)], declaredCount: 3)
        .write(to: &writer)
    #expect(throws: TCFError.truncated) { try TCFConsentString(writer.base64URL()) }
}

@Test func missingLegitimateInterestSectionIsTruncated() {
    var writer = TCStringBuilder().coreFieldsWriter()
    TCStringBuilder.VendorSection.bitfield([21]).write(to: &writer)
    #expect(throws: TCFError.truncated) { try TCFConsentString(writer.base64URL()) }
}

@Test(arguments: [
    TCStringBuilder.RangeEntry.span(5, 3),  // end before start
    .single(0),  // vendor ids are 1-based
    .span(0, 4),
    .span(90, 101),  // beyond MaxVendorId
])
private func malformedVendorRangesAreRejected(entry: TCStringBuilder.RangeEntry) {
    var builder = TCStringBuilder()
    builder.vendorConsents = .ranges(maxVendorId: 100, entries: [entry])
    #expect(throws: TCFError.invalidVendorRange) { try TCFConsentString(builder.encode()) }
}

// MARK: - Constructed strings

@Test func builderRoundTripsTheReferenceString() throws {
    // Sanity check of the test encoder itself: the same fields as the reference string
    // (apart from timestamps and CMP metadata) produce the same consent decision.
    var builder = TCStringBuilder()
    builder.purposesConsent = [1, 3, 4]
    builder.purposesLegitimateInterest = [2, 7, 10]
    builder.vendorConsents = .ranges(maxVendorId: 21, entries: [.single(21)])
    builder.vendorLegitimateInterests = .ranges(maxVendorId: 21, entries: [.single(21)])
    let consent = try TCFConsentString(builder.encode())
    let reference = try TCFConsentString(sufficientForVendor21)
    #expect(consent.purposesConsent == reference.purposesConsent)
    #expect(consent.purposesLegitimateInterest == reference.purposesLegitimateInterest)
    #expect(consent.allowsProcessing() == reference.allowsProcessing())
}

@Test func bitfieldVendorEncoding() throws {
    var builder = TCStringBuilder()
    builder.purposesConsent = Set(1...24)
    builder.vendorConsents = .bitfield([1, 21, 64, 65, 300])
    let consent = try TCFConsentString(builder.encode())
    #expect([1, 21, 64, 65, 300].allSatisfy(consent.vendorHasConsent))
    #expect(![0, 2, 20, 22, 63, 66, 299, 301, -1].contains(where: consent.vendorHasConsent))
    #expect(!consent.vendorHasLegitimateInterest(21))
    #expect(consent.allowsProcessing(vendor: 21, requiredPurposes: TCFConsentString.euidRequiredPurposes))
    #expect(consent.allowsProcessing(vendor: 300, requiredPurposes: TCFConsentString.euidRequiredPurposes))
    #expect(!consent.allowsProcessing(vendor: 22, requiredPurposes: TCFConsentString.euidRequiredPurposes))
}

@Test func rangeVendorEncoding() throws {
    var builder = TCStringBuilder()
    builder.purposesConsent = Set(TCFConsentString.euidRequiredPurposes)
    builder.vendorConsents = .ranges(maxVendorId: 40, entries: [.span(1, 5), .single(21), .span(30, 40)])
    let consent = try TCFConsentString(builder.encode())
    for vendor in 0...45 {
        let expected = (1...5).contains(vendor) || vendor == 21 || (30...40).contains(vendor)
        #expect(consent.vendorHasConsent(vendor) == expected, "vendor \(vendor)")
    }
    #expect(consent.allowsProcessing())
    #expect(!consent.allowsProcessing(vendor: 22, requiredPurposes: TCFConsentString.euidRequiredPurposes))
}

@Test func largestVendorIdsDecode() throws {
    var builder = TCStringBuilder()
    builder.vendorConsents = .bitfield([21, 65535])
    builder.vendorLegitimateInterests = .ranges(maxVendorId: 65535, entries: [.span(1, 65535)])
    let consent = try TCFConsentString(builder.encode())
    #expect(consent.vendorHasConsent(65535))
    #expect(consent.vendorHasConsent(21))
    #expect(!consent.vendorHasConsent(65534))
    #expect(!consent.vendorHasConsent(65536))
    #expect(consent.vendorHasLegitimateInterest(40000))
}

@Test func legitimateInterestOnlyVendorUsesLegitimateInterestPurposes() throws {
    var builder = TCStringBuilder()
    builder.purposesLegitimateInterest = Set(TCFConsentString.euidRequiredPurposes)
    builder.vendorConsents = .bitfield([])
    builder.vendorLegitimateInterests = .bitfield([21])
    let consent = try TCFConsentString(builder.encode())
    #expect(!consent.vendorHasConsent(21))
    #expect(consent.vendorHasLegitimateInterest(21))
    #expect(consent.allowsProcessing())

    // Purpose consents do not count for a vendor that only has legitimate interest.
    builder.purposesConsent = Set(TCFConsentString.euidRequiredPurposes)
    builder.purposesLegitimateInterest = []
    #expect(try !TCFConsentString(builder.encode()).allowsProcessing())
}

@Test func consentOnlyVendorIgnoresLegitimateInterestPurposes() throws {
    var builder = TCStringBuilder()
    builder.purposesConsent = [1, 2, 3, 4]
    builder.purposesLegitimateInterest = [7, 10]
    builder.vendorConsents = .bitfield([21])
    builder.vendorLegitimateInterests = .bitfield([20, 22])
    #expect(try !TCFConsentString(builder.encode()).allowsProcessing())

    builder.vendorLegitimateInterests = .bitfield([20, 21, 22])
    #expect(try TCFConsentString(builder.encode()).allowsProcessing())
}

@Test func vendorAboveMaxVendorIdHasNoConsent() throws {
    var builder = TCStringBuilder()
    builder.purposesConsent = Set(1...24)
    builder.purposesLegitimateInterest = Set(1...24)
    builder.vendorConsents = .bitfield(maxVendorId: 20, vendors: Set(1...20))
    builder.vendorLegitimateInterests = .ranges(maxVendorId: 20, entries: [.span(1, 20)])
    let consent = try TCFConsentString(builder.encode())
    #expect(consent.vendorHasConsent(20))
    #expect(!consent.vendorHasConsent(21))
    #expect(!consent.vendorHasLegitimateInterest(21))
    #expect(!consent.allowsProcessing())
}

@Test func mixedConsentAndLegitimateInterestUnionSatisfiesTheRule() throws {
    var builder = TCStringBuilder()
    builder.purposesConsent = [1, 3, 4]
    builder.purposesLegitimateInterest = [2, 7, 10]
    builder.vendorConsents = .bitfield([21])
    builder.vendorLegitimateInterests = .ranges(maxVendorId: 50, entries: [.span(10, 30)])
    #expect(try TCFConsentString(builder.encode()).allowsProcessing())

    // Each half alone is not enough.
    builder.vendorLegitimateInterests = .bitfield([])
    #expect(try !TCFConsentString(builder.encode()).allowsProcessing())
    builder.vendorConsents = .bitfield([])
    builder.vendorLegitimateInterests = .bitfield([21])
    #expect(try !TCFConsentString(builder.encode()).allowsProcessing())
}

@Test func requiredPurposesOutsideTheFieldAreNeverSatisfied() throws {
    var builder = TCStringBuilder()
    builder.purposesConsent = Set(1...24)
    builder.vendorConsents = .bitfield([21])
    let consent = try TCFConsentString(builder.encode())
    #expect(consent.allowsProcessing(vendor: 21, requiredPurposes: Array(1...24)))
    #expect(!consent.allowsProcessing(vendor: 21, requiredPurposes: [1, 25]))
    #expect(!consent.allowsProcessing(vendor: 21, requiredPurposes: [0]))
    #expect(!consent.hasPurposeConsent(0))
    #expect(!consent.hasPurposeConsent(25))
}

@Test func paddingAndTrailingSegmentsAreTolerated() throws {
    let reference = try TCFConsentString(sufficientForVendor21)
    // 54 characters: standard padding would add "==".
    #expect(try TCFConsentString(sufficientForVendor21 + "==") == reference)
    #expect(try TCFConsentString(sufficientForVendor21 + ".YAAAAAAAAAAA") == reference)
    #expect(try TCFConsentString(sufficientForVendor21[...]) == reference)
}

// MARK: - Robustness

@Test func everyPrefixOfTheReferenceStringDecodesOrThrows() throws {
    let full = try TCFConsentString(sufficientForVendor21)
    var decodedPrefixes = 0
    for length in 0...sufficientForVendor21.count {
        let prefix = sufficientForVendor21.prefix(length)
        do {
            // A prefix that still holds both vendor sections must mean the same thing.
            let consent = try TCFConsentString(prefix)
            #expect(consent == full, "prefix length \(length)")
            decodedPrefixes += 1
        } catch {
            #expect(length < sufficientForVendor21.count, "full string failed: \(error)")
        }
    }
    // Only the trailing publisher-restriction bits can be cut off without an error.
    #expect(decodedPrefixes <= 4)
}

@Test func randomInputNeverCrashes() {
    var random = SplitMix64(seed: 0x5EED_7CF2)
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ é")
    for round in 0..<3000 {
        let length = Int.random(in: 0...80, using: &random)
        var text = String((0..<length).map { _ in alphabet.randomElement(using: &random)! })
        if round.isMultiple(of: 2) { text = "C" + text }  // version 2: reach the deeper fields
        _ = try? TCFConsentString(text)
    }
}

@Test func randomBitStreamsWithVersionTwoNeverCrash() {
    // Random payloads behind a valid version field exercise the vendor-section paths
    // (random MaxVendorId, encodings, range counts) far more than random text does.
    var random = SplitMix64(seed: 42)
    var decoded = 0
    for _ in 0..<3000 {
        var writer = BitWriter()
        writer.append(2, bits: 6)
        for _ in 0..<Int.random(in: 0...120, using: &random) {
            writer.append(Int(random.next() & 0xFF), bits: 8)
        }
        if let consent = try? TCFConsentString(writer.base64URL()) {
            decoded += 1
            _ = consent.allowsProcessing()
            _ = consent.vendorHasLegitimateInterest(Int.random(in: -5...70000, using: &random))
        }
    }
    #expect(decoded < 3000)
}

// MARK: - Test encoder

/// A minimal TC string encoder, so tests can state the fields they care about instead of
/// relying on opaque fixture strings.
private struct TCStringBuilder {
    enum RangeEntry: Sendable, CustomTestStringConvertible {
        case single(Int)
        case span(Int, Int)

        var testDescription: String {
            switch self {
            case .single(let id): "\(id)"
            case .span(let first, let last): "\(first)-\(last)"
            }
        }
    }

    enum VendorSection {
        case bitfield(maxVendorId: Int, vendors: Set<Int>)
        /// `declaredCount` overrides NumEntries, to produce truncated range lists.
        case ranges(maxVendorId: Int, entries: [RangeEntry], declaredCount: Int? = nil)

        static func bitfield(_ vendors: Set<Int>) -> VendorSection {
            .bitfield(maxVendorId: vendors.max() ?? 0, vendors: vendors)
        }

        func write(to writer: inout BitWriter) {
            switch self {
            case .bitfield(let maxVendorId, let vendors):
                writer.append(maxVendorId, bits: 16)
                writer.append(0, bits: 1)
                for vendor in stride(from: 1, through: maxVendorId, by: 1) {
                    writer.append(vendors.contains(vendor) ? 1 : 0, bits: 1)
                }
            case .ranges(let maxVendorId, let entries, let declaredCount):
                writer.append(maxVendorId, bits: 16)
                writer.append(1, bits: 1)
                writer.append(declaredCount ?? entries.count, bits: 12)
                for entry in entries {
                    switch entry {
                    case .single(let id):
                        writer.append(0, bits: 1)
                        writer.append(id, bits: 16)
                    case .span(let first, let last):
                        writer.append(1, bits: 1)
                        writer.append(first, bits: 16)
                        writer.append(last, bits: 16)
                    }
                }
            }
        }
    }

    var version = 2
    var specialFeatureOptIns: Set<Int> = []
    var purposesConsent: Set<Int> = []
    var purposesLegitimateInterest: Set<Int> = []
    var vendorConsents = VendorSection.bitfield([])
    var vendorLegitimateInterests = VendorSection.bitfield([])

    /// Every core field up to, not including, the vendor consent section.
    func coreFieldsWriter() -> BitWriter {
        var writer = BitWriter()
        writer.append(version, bits: 6)
        writer.append(16_500_000_000, bits: 36)  // Created (deciseconds)
        writer.append(16_500_000_000, bits: 36)  // LastUpdated
        writer.append(7, bits: 12)  // CmpId
        writer.append(1, bits: 12)  // CmpVersion
        writer.append(1, bits: 6)  // ConsentScreen
        writer.append(4 << 6 | 13, bits: 12)  // ConsentLanguage "EN"
        writer.append(150, bits: 12)  // VendorListVersion
        writer.append(4, bits: 6)  // TcfPolicyVersion
        writer.append(1, bits: 1)  // IsServiceSpecific
        writer.append(0, bits: 1)  // UseNonStandardTexts
        writer.append(flags(specialFeatureOptIns, width: 12), bits: 12)
        writer.append(flags(purposesConsent, width: 24), bits: 24)
        writer.append(flags(purposesLegitimateInterest, width: 24), bits: 24)
        writer.append(0, bits: 1)  // PurposeOneTreatment
        writer.append(3 << 6 | 4, bits: 12)  // PublisherCC "DE"
        return writer
    }

    func encode() -> String {
        var writer = coreFieldsWriter()
        vendorConsents.write(to: &writer)
        vendorLegitimateInterests.write(to: &writer)
        writer.append(0, bits: 12)  // NumPubRestrictions
        return writer.base64URL()
    }

    /// Item i (1-based) is the i-th bit from the most significant end.
    private func flags(_ items: Set<Int>, width: Int) -> Int {
        items.reduce(0) { $0 | 1 << (width - $1) }
    }
}

private struct BitWriter {
    private(set) var bits: [Bool] = []

    mutating func append(_ value: Int, bits width: Int) {
        for shift in stride(from: width - 1, through: 0, by: -1) {
            bits.append((value >> shift) & 1 == 1)
        }
    }

    /// Pads to whole bytes with zero bits, then base64url-encodes without '=' padding,
    /// as CMPs do.
    func base64URL() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var padded = bits
        while !padded.count.isMultiple(of: 8) { padded.append(false) }
        while !padded.count.isMultiple(of: 6) { padded.append(false) }
        var output = ""
        for start in stride(from: 0, to: padded.count, by: 6) {
            let sextet = padded[start..<start + 6].reduce(0) { $0 << 1 | ($1 ? 1 : 0) }
            output.append(alphabet[sextet])
        }
        return output
    }
}

/// Deterministic generator so a failing fuzz case reproduces.
private struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
