import Crypto
import Testing
@testable import UIDProtocol

/// docs/TEST-VECTORS.md#email-normalization and the sections after it (the reference's InputNormalizationTest).
@Suite struct NormalizationTests {
    static let emailCases: [(String, String, String)] = [
        ("TEst.TEST@Test.com ", "test.test@test.com", "dvECjPKZHya0/SIhSGwP0m8SgTv1vzLxPULUOsm880M="),
        ("test.test@test.com", "test.test@test.com", "dvECjPKZHya0/SIhSGwP0m8SgTv1vzLxPULUOsm880M="),
        ("test.test@gmail.com", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
        ("test+test@test.com", "test+test@test.com", "rQ4yzdOz4uG8N54326QyZD6/JwqrXn4lmy34cVCojB8="),
        ("+test@test.com", "+test@test.com", "weFizOVVWKlLfyorbBU8oxYDv4HJtTZCPMyZ4THzUQE="),
        ("test+test@gmail.com", "test@gmail.com", "h5JGBrQTGorO7q6IaFMfu5cSqqB6XTp1aybOD11spnQ="),
        ("testtest@test.com", "testtest@test.com", "d1Lr/s4GLLX3SvQVMoQdIMfbQPMAGZYry+2V+0pZlQg="),
        (" testtest@test.com", "testtest@test.com", "d1Lr/s4GLLX3SvQVMoQdIMfbQPMAGZYry+2V+0pZlQg="),
        ("testtest@test.com ", "testtest@test.com", "d1Lr/s4GLLX3SvQVMoQdIMfbQPMAGZYry+2V+0pZlQg="),
        ("  testtest@test.com  ", "testtest@test.com", "d1Lr/s4GLLX3SvQVMoQdIMfbQPMAGZYry+2V+0pZlQg="),
        (" test.test@gmail.com", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
        ("test.test@gmail.com ", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
        ("  test.test@gmail.com  ", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
        ("TEstTEst@gmail.com  ", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
        ("TEstTEst@GMail.Com  ", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
        (" TEstTEst@GMail.Com  ", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
        ("TEst.TEst@GMail.Com", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
        ("TEst.TEst+123@GMail.Com", "testtest@gmail.com", "LkLfFrut8Tc3h/fIvYDiBKSbaMiau/DtaLBPQYszdMw="),
        ("\u{1F60A}testtest@test.com", "\u{1F60A}testtest@test.com", "fAFEUqApQ0V/M9mLj/IO54CgKgtQuARKsOMqtFklD4k="),
        ("testtest@\u{1F60A}test.com", "testtest@\u{1F60A}test.com", "tcng5pttf7Y2z4ylZTROvIMw1+IVrMpR4D1KeXSrdiM="),
        ("testtest@test.com\u{1F60A}", "testtest@test.com\u{1F60A}", "0qI21FPLkuez/8RswfmircHPYz9Dtf7/Nch1rSWEQf0="),
    ]

    @Test(arguments: emailCases)
    func normalizesAndHashesEmails(input: String, normalized: String, hash: String) {
        #expect(EmailNormalizer.normalize(input) == normalized)
        #expect(IdentityHash(kind: .email, value: input)?.bytes == b64(hash))
    }

    @Test(arguments: ["", " @", "@", "a@", "@b", "@b.com", "+", " ", "+@gmail.com", ".+@gmail.com", "a@ba@z.com"])
    func rejectsInvalidEmails(input: String) {
        #expect(EmailNormalizer.normalize(input) == nil)
        #expect(IdentityHash(kind: .email, value: input) == nil)
    }

    @Test func derivedEmailCases() {
        #expect(EmailNormalizer.normalize("te st@x.com") == "test@x.com")
        #expect(EmailNormalizer.normalize("a b@gmail.com") == "ab@gmail.com")
        #expect(EmailNormalizer.normalize("x@do main.com ") == "x@do main.com")
        #expect(EmailNormalizer.normalize("A.B+C@GOOGLEMAIL.COM") == "a.b+c@googlemail.com")
        #expect(EmailNormalizer.normalize("Ä@x.com") == "Ä@x.com")
        #expect(EmailNormalizer.normalize("a@b") == "a@b")
        // Only `gmail.com` itself takes the gmail rule: not a domain one byte off in length or content.
        #expect(EmailNormalizer.normalize("a.b+c@gmail.co") == "a.b+c@gmail.co")
        #expect(EmailNormalizer.normalize("a.b+c@xgmail.com") == "a.b+c@xgmail.com")
        #expect(EmailNormalizer.normalize("a.b+c@gmail.con") == "a.b+c@gmail.con")
        #expect(EmailNormalizer.normalize("a.b+c@gmail.com") == "ab@gmail.com")
    }

    @Test(arguments: [
        "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs=",
        "0C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B",
        "0c7e6a405862e402eb76a70f8a26fc732d07c32931e9fae9ab1582911d2e8a3b",
    ])
    func acceptsHashInputs(input: String) {
        let expected = Array(SHA256.hash(data: Array("foo@bar.com".utf8)))
        #expect(IdentityHash(kind: .emailHash, value: input)?.bytes == expected)
        #expect(IdentityHash(kind: .phoneHash, value: input)?.type == .phone)
    }

    @Test(arguments: [
        "", "asdaksjdakfj", "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs", "QFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs",
        "0Z7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B",
        "0C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B00",
        "000C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B",
    ])
    func rejectsBadHashInputs(input: String) {
        #expect(HashedInput.decode(input) == nil)
    }

    @Test(arguments: ["+1234567890", "+12345678901", "+123456789012", "+1234567890123", "+12345678901234", "+123456789012345"])
    func acceptsPhones(phone: String) {
        #expect(PhoneValidator.isValid(phone))
        #expect(IdentityHash(kind: .phone, value: phone)?.bytes == Array(SHA256.hash(data: Array(phone.utf8))))
    }

    @Test(arguments: [
        "", "asdaksjdakfj", "DH5qQFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs", "QFhi5ALrdqcPiib8cy0Hwykx6frpqxWCkR0uijs",
        "0C7E6A405862E402EB76A70F8A26FC732D07C32931E9FAE9AB1582911D2E8A3B",
        "0c7e6a405862e402eb76a70f8a26fc732d07c32931e9fae9ab1582911d2e8a3b",
        "+", "12345678", "123456789", "1234567890", "+12345678", "+123456789", "+ 12345678", "+ 123456789",
        "+ 1234 5678", "+ 1234 56789", "+1234567890123456", "+1234567890A", "+1234567890 ", "+1234567890+",
        "+12345+67890", "555-555-5555", "(555) 555-5555", "+١٢٣٤٥٦٧٨٩٠",
    ])
    func rejectsPhones(phone: String) {
        #expect(!PhoneValidator.isValid(phone))
    }
}
