import Foundation

// Client-side token generation (CSTG) origin / app-name checks (docs/PROTOCOL.md#client-side-generate) and the Public
// Suffix List they need.
//
// The reference operator (`DomainNameCheckUtil`) does:
//     host = new java.net.URL(origin).getHost()
//     name = com.google.common.net.InternetDomainName.from(host)
//     if name.isUnderPublicSuffix()                      -> name.topPrivateDomain()
//     else if name == "localhost" or name.parent() == "localhost" -> "localhost"
//     else                                               -> reject
// and requires the result to be one of the site's `domain_names`.
//
// Guava facts reproduced here:
// * `publicSuffix()` / `isUnderPublicSuffix()` / `topPrivateDomain()` use *all* PSL entries — the
//   ICANN section and the PRIVATE section (e.g. `blogspot.com`, `github.io`,
//   `s3-eu-west-1.amazonaws.com`). Only `registrySuffix()` / `topDomainUnderRegistrySuffix()` are
//   restricted to the ICANN section. So `foo.github.io` → `foo.github.io`, and a host that is itself
//   a (private) public suffix, such as `github.io`, has no top private domain and is rejected.
// * There is no implicit `*` rule: a host whose TLD is not on the list (e.g. `foo.unknowntld`) has
//   no public suffix and is rejected (except the localhost special case).
// * Suffix search walks from the full name towards the TLD and, at each ancestor, checks in order:
//   exact rule (→ suffix starts here), exception rule `!x` (→ suffix starts one label to the right),
//   wildcard rule `*.parent` (→ suffix starts here). The first hit wins.
// * Host syntax (`InternetDomainName.from`): ASCII upper case folded to lower case, the dots
//   U+3002/U+FF0E/U+FF61 treated as '.', one trailing '.' dropped; at most 253 characters and 127
//   labels; every label 1–63 characters, ASCII characters limited to letters, digits, '-' and '_',
//   no leading/trailing '-' or '_'; the last label must not start with an ASCII digit (this is what
//   rejects IPv4 addresses). Non-ASCII characters are accepted as-is. Invalid hosts are rejected.
// * The localhost exception covers exactly `localhost` and one label under it (`abc.localhost`),
//   not `a.b.localhost` (Guava's `parent()` is compared with "localhost").

/// Parsed Public Suffix List (https://publicsuffix.org/list/public_suffix_list.dat; Debian's
/// `publicsuffix` package installs it at `/usr/share/publicsuffix/public_suffix_list.dat`).
///
/// Supports normal rules (`com`, `co.uk`), wildcard rules (`*.ck`) and exception rules (`!www.ck`).
/// Rules of both the ICANN and the PRIVATE section count, as in Guava's
/// `InternetDomainName.topPrivateDomain()`.
public struct PublicSuffixList: Sendable {
    public static let defaultPath = "/usr/share/publicsuffix/public_suffix_list.dat"

    /// Normal rules, e.g. `co.uk`.
    private let exact: Set<String>
    /// Wildcard rules without their `*.` prefix: `*.ck` is stored as `ck`.
    private let wildcardParents: Set<String>
    /// Exception rules without their `!` prefix: `!www.ck` is stored as `www.ck`.
    private let exceptions: Set<String>

    /// Number of rules parsed (all three kinds).
    public var ruleCount: Int { exact.count + wildcardParents.count + exceptions.count }

    /// Parses the `.dat` format: `//` comments, blank lines, one rule per line (only the text up to
    /// the first whitespace counts). Rules are ASCII-lower-cased; punycode conversion is not done.
    public init(text: String) {
        var exact = Set<String>()
        var wildcardParents = Set<String>()
        var exceptions = Set<String>()
        text.enumerateLines { line, _ in
            // The rule is the first whitespace-delimited token of the line.
            guard let token = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first else { return }
            if token.hasPrefix("//") { return }
            let rule = PublicSuffixList.asciiLowercased(String(token))
            if rule.hasPrefix("!") {
                let name = String(rule.dropFirst())
                if !name.isEmpty { exceptions.insert(name) }
            } else if rule.hasPrefix("*.") {
                let parent = String(rule.dropFirst(2))
                if !parent.isEmpty { wildcardParents.insert(parent) }
            } else if !rule.isEmpty, !rule.contains("*") {
                exact.insert(rule)
            }
        }
        self.exact = exact
        self.wildcardParents = wildcardParents
        self.exceptions = exceptions
    }

    /// Reads and parses the list at `path` (UTF-8).
    public static func load(path: String = defaultPath) throws -> PublicSuffixList {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return PublicSuffixList(text: String(decoding: data, as: UTF8.self))
    }

    /// The "top private domain" (public suffix + one label) of `host`, as Guava's
    /// `InternetDomainName.from(host).topPrivateDomain()` computes it, lower-cased.
    /// `nil` if the host is syntactically invalid (including IP addresses), has no public suffix, or
    /// is itself a public suffix.
    public func registrableDomain(of host: String) -> String? {
        guard let labels = PublicSuffixList.validatedLabels(host) else { return nil }
        guard let index = publicSuffixIndex(labels), index > 0 else { return nil }
        return labels[(index - 1)...].joined(separator: ".")
    }

    /// Index of the first label of the public suffix, or nil when there is none (Guava's
    /// `findSuffixOfType(Optional.absent())`).
    func publicSuffixIndex(_ labels: [String]) -> Int? {
        // ancestors[i] = labels[i...] joined with dots, built from the right.
        var ancestors = [String](repeating: "", count: labels.count)
        var suffix = ""
        for i in stride(from: labels.count - 1, through: 0, by: -1) {
            suffix = suffix.isEmpty ? labels[i] : labels[i] + "." + suffix
            ancestors[i] = suffix
        }
        for i in 0..<labels.count {
            let ancestor = ancestors[i]
            if exact.contains(ancestor) { return i }
            if exceptions.contains(ancestor) { return i + 1 }
            if i + 1 < labels.count, wildcardParents.contains(ancestors[i + 1]) { return i }
        }
        return nil
    }

    // MARK: - Host syntax (Guava InternetDomainName.from)

    /// Normalizes and validates a host name; returns its labels or nil if Guava would throw.
    static func validatedLabels(_ host: String) -> [String]? {
        var name = ""
        name.unicodeScalars.reserveCapacity(host.unicodeScalars.count)
        for scalar in host.unicodeScalars {
            switch scalar.value {
            case 0x3002, 0xFF0E, 0xFF61: name.unicodeScalars.append(".")
            case 0x41...0x5A: name.unicodeScalars.append(Unicode.Scalar(scalar.value + 0x20)!)
            default: name.unicodeScalars.append(scalar)
            }
        }
        if name.hasSuffix(".") { name.removeLast() }
        guard name.utf16.count <= 253 else { return nil }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !labels.isEmpty, labels.count <= 127 else { return nil }
        for (i, label) in labels.enumerated() where !validLabel(label, isFinal: i == labels.count - 1) {
            return nil
        }
        return labels
    }

    private static func validLabel(_ label: String, isFinal: Bool) -> Bool {
        let length = label.utf16.count
        guard length >= 1, length <= 63 else { return false }
        for unit in label.utf8 where unit < 0x80 {
            let ok = (unit >= 0x61 && unit <= 0x7A) || (unit >= 0x41 && unit <= 0x5A) || (unit >= 0x30 && unit <= 0x39)
                || unit == 0x2D || unit == 0x5F
            if !ok { return false }
        }
        let first = label.utf8.first!, last = label.utf8.last!
        if first == 0x2D || first == 0x5F || last == 0x2D || last == 0x5F { return false }
        if isFinal && first >= 0x30 && first <= 0x39 { return false }
        return true
    }

    static func asciiLowercased(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return s }
        return String(decoding: s.utf8.map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}

/// The CSTG origin / app-name policy (docs/PROTOCOL.md#client-side-generate).
public struct OriginPolicy: Sendable {
    public let publicSuffixList: PublicSuffixList

    public init(publicSuffixList: PublicSuffixList) {
        self.publicSuffixList = publicSuffixList
    }

    /// Reference rule: `Origin` header → URL host (a `scheme://` prefix is required, so
    /// `examplewebsite.com` and `abc:examplewebsite.com` are rejected; the port, if present, must be
    /// 0–65535) → lower-cased → registrable domain ("top private domain"), or `localhost` for
    /// `localhost` / `<label>.localhost` → must be one of `allowedDomains` (compared
    /// case-insensitively). IP addresses, user info and hosts without a public suffix are rejected.
    public func isAllowed(origin: String?, allowedDomains: [String]) -> Bool {
        guard let origin, let domain = siteDomain(ofOrigin: origin) else { return false }
        return allowedDomains.contains { $0.lowercased() == domain.lowercased() }
    }

    /// `app_name` must equal one of the site's app names, case-insensitively (Java
    /// `equalsIgnoreCase`-style, compared scalar by scalar).
    public func isAllowed(appName: String, allowedAppNames: [String]) -> Bool {
        allowedAppNames.contains { OriginPolicy.equalsIgnoringCase($0, appName) }
    }

    /// The domain an origin is checked as (reference `getTopLevelDomainName`), or nil if the origin
    /// is malformed or has no registrable domain.
    public func siteDomain(ofOrigin origin: String) -> String? {
        guard let host = OriginPolicy.host(ofOrigin: origin) else { return nil }
        guard let labels = PublicSuffixList.validatedLabels(host) else { return nil }
        if let index = publicSuffixList.publicSuffixIndex(labels), index > 0 {
            return labels[(index - 1)...].joined(separator: ".")
        }
        if labels == ["localhost"] || (labels.count == 2 && labels[1] == "localhost") {
            return "localhost"
        }
        return nil
    }

    /// Extracts the host of an absolute URL of the form `scheme://host[:port][/path][?query][#fragment]`.
    /// Returns nil for anything else (no scheme, no `//`, user info, IPv6 literal, bad port).
    static func host(ofOrigin origin: String) -> String? {
        // Like java.net.URL, ignore leading/trailing control characters and spaces.
        let bytes = Array(origin.utf8)
        var start = 0, end = bytes.count
        while start < end && bytes[start] <= 0x20 { start += 1 }
        while end > start && bytes[end - 1] <= 0x20 { end -= 1 }
        guard start < end else { return nil }

        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
        var i = start
        guard isASCIIAlpha(bytes[i]) else { return nil }
        i += 1
        while i < end, isASCIIAlpha(bytes[i]) || isASCIIDigit(bytes[i]) || bytes[i] == 0x2B || bytes[i] == 0x2D || bytes[i] == 0x2E {
            i += 1
        }
        guard i < end, bytes[i] == 0x3A else { return nil }
        i += 1
        guard i + 1 < end, bytes[i] == 0x2F, bytes[i + 1] == 0x2F else { return nil }
        i += 2

        // authority ends at '/', '?' or '#'.
        let authorityStart = i
        while i < end, bytes[i] != 0x2F, bytes[i] != 0x3F, bytes[i] != 0x23 { i += 1 }
        let authority = bytes[authorityStart..<i]
        guard !authority.isEmpty else { return nil }
        if authority.contains(0x40) { return nil }          // user info ('@')
        if authority.first == 0x5B { return nil }           // IPv6 literal '[...]'
        if authority.contains(0x5C) { return nil }          // backslash

        var hostBytes = authority[...]
        if let colon = authority.firstIndex(of: 0x3A) {
            hostBytes = authority[authority.startIndex..<colon]
            let port = authority[(colon + 1)...]
            guard port.count <= 5, port.allSatisfy(isASCIIDigit) else { return nil }
            if !port.isEmpty {
                var value = 0
                for d in port { value = value * 10 + Int(d - 0x30) }
                guard value <= 65535 else { return nil }
            }
        }
        guard !hostBytes.isEmpty else { return nil }
        return String(decoding: hostBytes, as: UTF8.self)
    }

    private static func isASCIIAlpha(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
    private static func isASCIIDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// Scalar-by-scalar case-insensitive equality (close to Java's `String.equalsIgnoreCase`).
    static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        guard x.count == y.count else { return false }
        for (p, q) in zip(x, y) where p != q {
            if p.properties.uppercaseMapping == q.properties.uppercaseMapping { continue }
            if p.properties.lowercaseMapping == q.properties.lowercaseMapping { continue }
            return false
        }
        return true
    }
}
