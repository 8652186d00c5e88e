import Foundation
import Testing
import UIDOperatorCore

/// The maintained list as installed by Debian's `publicsuffix` package (CI installs it).
private let installedList = Result { try PublicSuffixList.load(path: PublicSuffixList.defaultPath) }

@Suite struct OriginPolicyTests {
    static let productionDomains = ["examplewebsite.com", "e-wb.org", "aussiedomain.id.au"]

    func policy() throws -> OriginPolicy {
        OriginPolicy(publicSuffixList: try installedList.get())
    }

    // MARK: Origins (reference DomainNameCheckUtilTest / docs/TEST-VECTORS.md#origins-and-app-names)

    @Test(arguments: [
        "http://examplewebsite.com",
        "https://examplewebsite.com",
        "https://abc.examplewebsite.com:8080",
        "https://abc.examplewebsite.com:8080/",
        "https://abc.eXampleWebsIte.com:8080/",
        "https://abc.exAmplewEbsite.com:8080/blahh/a.html",
        "http://e-wb.org",
        "https://e-wb.org",
        "https://abc.e-wb.org:8080",
        "https://abc.e-wb.org:8080/",
        "https://abc.e-Wb.org:8080/",
        "https://abc.e-wb.org:8080/blahh/a.html",
        "http://aussiedomain.id.au",
        "https://aussiedomain.id.au/head.html",
    ])
    func acceptsAllowedOrigins(origin: String) throws {
        #expect(try policy().isAllowed(origin: origin, allowedDomains: Self.productionDomains))
    }

    @Test(arguments: [
        // Malformed URLs
        "examplewebsite.com",
        "examplewebsite.com:999999",
        "abc:examplewebsite.com",
        "/:$2231examplewebsite.com",
        "/:$2231examplewebsite.com/23423/sfs.html",
        // Disallowed domain names
        "http://boohoo.id.au",
        "https://blah12.com",
        "http://123.boohoo.id.au",
        "https://456.blah12.com",
    ])
    func rejectsOtherOrigins(origin: String) throws {
        #expect(try !policy().isAllowed(origin: origin, allowedDomains: Self.productionDomains))
    }

    @Test(arguments: [
        "http://localhost",
        "https://localhost:8080/",
        "https://abc.localhost:8080",
        "https://abc.localhost:8080/",
        "https://abc.locaLHost:8080/",
        "https://abc.localhost:8080/blahh/a.html",
    ])
    func acceptsLocalhostWhenListed(origin: String) throws {
        let policy = try policy()
        #expect(policy.isAllowed(origin: origin, allowedDomains: ["examplewebsite.com", "e-wb.org", "localhost"]))
        #expect(!policy.isAllowed(origin: origin, allowedDomains: Self.productionDomains))
    }

    @Test(arguments: [
        "http://a.b.localhost",                      // Guava compares only the direct parent with "localhost"
        "http://examplewebsite.com:65536",           // port out of range
        "http://examplewebsite.com:8o",              // port not numeric
        "http://user@examplewebsite.com",            // user info
        "http://127.0.0.1",                          // IP addresses have no public suffix
        "http://[::1]:8080",
        "http://examplewebsite.com.unknowntld",      // no public suffix (no implicit "*" rule)
        "http://-examplewebsite.com",                // invalid label
        "http://exa mple.com",
        "http:examplewebsite.com",                   // no "//"
        "http:/examplewebsite.com",
        "http://",
        "null",
        "",
    ])
    func rejectsMalformedOrUnregistrableOrigins(origin: String) throws {
        let policy = try policy()
        #expect(!policy.isAllowed(origin: origin, allowedDomains: Self.productionDomains + ["localhost", "127.0.0.1", "0.1"]))
    }

    @Test func missingOriginIsRejected() throws {
        #expect(try !policy().isAllowed(origin: nil, allowedDomains: Self.productionDomains))
    }

    @Test func allowedDomainsCompareCaseInsensitively() throws {
        #expect(try policy().isAllowed(origin: "https://www.ExampleWebsite.com", allowedDomains: ["EXAMPLEWEBSITE.com"]))
    }

    @Test func originDomainExtraction() throws {
        let policy = try policy()
        #expect(policy.siteDomain(ofOrigin: "HTTPS://WWW.Example.CO.UK:443/x?y#z") == "example.co.uk")
        #expect(policy.siteDomain(ofOrigin: "  http://examplewebsite.com.  ") == "examplewebsite.com")
        #expect(policy.siteDomain(ofOrigin: "http://examplewebsite.com:") == "examplewebsite.com")
        #expect(policy.siteDomain(ofOrigin: "http://localhost:65535") == "localhost")
        #expect(policy.siteDomain(ofOrigin: "http://examplewebsite.com:65536") == nil)
    }

    @Test func survivesArbitraryInput() throws {
        let policy = try policy()
        let pieces = ["http", "://", ":", "/", ".", "..", "@", "[", "]", "%", "-", "_", "9", "a", "com", "localhost",
                      "\u{3002}", "ü", "\\", "?", "#", " ", "\u{0}", "99999999999999999999", "😊"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<5_000 {
            var text = ""
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            for k in 0..<Int(state >> 60) {
                text += pieces[Int((state >> UInt64(4 * k % 56)) % UInt64(pieces.count))]
            }
            _ = policy.isAllowed(origin: text, allowedDomains: ["localhost", "com"])
            _ = policy.publicSuffixList.registrableDomain(of: text)
        }
    }

    // MARK: Public Suffix List (real list)

    @Test func installedListIsNotTrivial() throws {
        #expect(try installedList.get().ruleCount > 5_000)
    }

    @Test(arguments: [
        ("www.google.co.uk", "google.co.uk"),
        ("examplewebsite.com", "examplewebsite.com"),
        ("a.b.c.aussiedomain.id.au", "aussiedomain.id.au"),
        ("EXAMPLE.COM.", "example.com"),
        ("a_b.example.com", "example.com"),
        ("münchen.de", "münchen.de"),
        // PRIVATE-section suffixes count, as in Guava's topPrivateDomain().
        ("foo.blogspot.com", "foo.blogspot.com"),
        ("x.y.github.io", "y.github.io"),
        // ICANN wildcard + exception rules (*.kawasaki.jp, !city.kawasaki.jp).
        ("a.b.kawasaki.jp", "a.b.kawasaki.jp"),
        ("www.city.kawasaki.jp", "city.kawasaki.jp"),
    ])
    func registrableDomainWithInstalledList(host: String, expected: String) throws {
        #expect(try installedList.get().registrableDomain(of: host) == expected)
    }

    @Test(arguments: [
        "com", "co.uk", "id.au", "blogspot.com", "github.io", "b.kawasaki.jp",  // public suffixes themselves
        "localhost", "foo.unknowntld",                                            // no public suffix
        "127.0.0.1", "", ".", "a..com", "-a.com", "a-.com", "_a.com", "a.com-", "a/b.com", "[::1]",
        String(repeating: "a", count: 64) + ".com",
    ])
    func noRegistrableDomainWithInstalledList(host: String) throws {
        #expect(try installedList.get().registrableDomain(of: host) == nil)
    }

    // MARK: Public Suffix List (inline list: rule kinds)

    static let inlineList = PublicSuffixList(text: """
        // A comment line
        // ===BEGIN ICANN DOMAINS===

        com
        uk
        co.uk
        *.ck
        !www.ck
        *.nom.example
        jp
        kawasaki.jp
        *.kawasaki.jp
        !city.kawasaki.jp
        Upper.Example   trailing text is ignored
        // ===END ICANN DOMAINS===
        // ===BEGIN PRIVATE DOMAINS===
        blogspot.com
        // ===END PRIVATE DOMAINS===
        """)

    @Test(arguments: [
        ("x.www.ck", "www.ck"),          // exception rule: public suffix is "ck"
        ("a.b.www.ck", "www.ck"),
        ("www.ck", "www.ck"),
        ("x.y.ck", "x.y.ck"),            // wildcard rule: "y.ck" is a public suffix
        ("a.x.y.ck", "x.y.ck"),
        ("a.b.nom.example", "a.b.nom.example"),
        ("foo.co.uk", "foo.co.uk"),
        ("bar.foo.co.uk", "foo.co.uk"),
        ("foo.uk", "foo.uk"),
        ("a.blogspot.com", "a.blogspot.com"),
        ("blog.example.com", "example.com"),
        ("x.city.kawasaki.jp", "city.kawasaki.jp"),
        ("x.other.kawasaki.jp", "x.other.kawasaki.jp"),
        ("x.upper.example", "x.upper.example"),
    ])
    func inlineRules(host: String, expected: String) {
        #expect(Self.inlineList.registrableDomain(of: host) == expected)
    }

    @Test(arguments: ["ck", "y.ck", "b.nom.example", "nom.example", "co.uk", "com", "blogspot.com", "kawasaki.jp",
                      "other.kawasaki.jp", "example", "foo.example", "upper.example"])
    func inlineRulesWithoutRegistrableDomain(host: String) {
        #expect(Self.inlineList.registrableDomain(of: host) == nil)
    }

    @Test func inlineListCountsRules() {
        #expect(Self.inlineList.ruleCount == 12)
    }

    @Test func loadReportsMissingFile() {
        #expect(throws: (any Error).self) { try PublicSuffixList.load(path: "/nonexistent/public_suffix_list.dat") }
    }

    // MARK: App names (reference UIDOperatorVerticleTest / docs/TEST-VECTORS.md#origins-and-app-names)

    static let siteAppNames = ["com.123.Game.App.android", "123456789"]

    @Test(arguments: ["com.123.game.app.android", "COM.123.GAME.APP.ANDROID", "com.123.Game.App.android", "123456789"])
    func acceptsListedAppNames(appName: String) throws {
        #expect(try policy().isAllowed(appName: appName, allowedAppNames: Self.siteAppNames))
    }

    @Test(arguments: ["", "com.123", "com.", "com.123.game.app.android ", "1234567890"])
    func rejectsOtherAppNames(appName: String) throws {
        #expect(try !policy().isAllowed(appName: appName, allowedAppNames: Self.siteAppNames))
    }

    @Test func noAppNamesRejectsEverything() throws {
        #expect(try !policy().isAllowed(appName: "com.123.game.app.android", allowedAppNames: []))
    }
}
