import Testing
import UIDOperatorCore
import UIDProtocol

/// Identity maps work a chunk of identities at a time (hash all, hint their buckets and salts into
/// the cache, then read them). These check that the answers are those of the copying, one-by-one
/// lookup for every position in and across chunks, over a table with every kind of bucket.
@Suite struct IdentityMapChunkingTests {
    static let now = Fixtures.now
    static let day: Int64 = 86_400_000

    /// 64 buckets in the flat arrays: a previous salt rotated 10 days ago (reported), one rotated
    /// 200 days ago (not reported), no previous salt, and neither salt nor key (no raw UID at all);
    /// then every seventh bucket replaced in the overlay, half of those with a recent previous salt.
    static func snapshot() throws -> OperatorSnapshot {
        var (contents, _) = Fixtures.contents()
        let old = contents.salts
        var salts = SaltTable(firstLevelSalt: old.firstLevelSalt, idPrefix: old.idPrefix, idSecret: old.idSecret)
        func salt(_ seed: Int, _ length: Int = 44) -> [UInt8] { (0..<length).map { UInt8(truncatingIfNeeded: seed &* 31 &+ $0 &* 7) } }
        for position in 0..<64 {
            let current: [UInt8]? = position % 4 == 3 ? nil : salt(position, position % 5 == 0 ? 32 : 44)
            let rotated = position % 4 == 1 ? now - 200 * day : now - 10 * day
            salts.append(SaltTable.Entry(
                id: Int64(1_000 + position), lastUpdatedMillis: rotated, refreshFromMillis: now + Int64(position) * day,
                currentSalt: current, previousSalt: position % 4 == 2 ? nil : salt(position + 500)
            ))
        }
        for position in stride(from: 0, to: 64, by: 7) {
            salts.replace(at: position, with: SaltTable.Entry(
                id: Int64(5_000 + position), lastUpdatedMillis: now - Int64(position % 2) * 150 * day, refreshFromMillis: now + day,
                currentSalt: salt(position + 900), previousSalt: salt(position + 1_300)
            ))
        }
        contents.salts = salts
        // Enough other opt-outs for a table of many buckets, so that the chunk's hints into it
        // take their full path; the answers must not change.
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<20_000 {
            let flh = (0..<4).flatMap { _ -> [UInt8] in
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return withUnsafeBytes(of: seed) { Array($0) }
            }
            contents.optOuts.insert(firstLevelHash: flh, optedOutSinceSeconds: now / 1000)
        }
        for value in ["gone3@example.com", "gone16@example.com", "gone17@example.com"] {
            let flh = HashChain.firstLevelHash(identityHash: IdentityHash(kind: .email, value: value)!.bytes, firstLevelSalt: salts.firstLevelSalt)
            contents.optOuts.insert(firstLevelHash: flh, optedOutSinceSeconds: now / 1000)
        }
        return try OperatorSnapshot(config: OperatorConfig(), contents: contents)
    }

    /// Valid emails, with opt-outs and invalid ones at chunk edges (positions 3, 15–17, 31–33).
    static func emails(_ count: Int) -> [String] {
        (0..<count).map { index in
            switch index {
            case 3, 16, 17: "gone\(index)@example.com"
            case 15, 32, 33: "not an email \(index)"
            default: "person\(index)@example.com"
            }
        }
    }

    /// What the one-by-one lookup that copies the bucket's salts answers.
    static func expected(_ snapshot: OperatorSnapshot, _ value: String, withPrevious: Bool) -> MappedIdentity {
        guard let hash = IdentityHash(kind: .email, value: value) else { return .invalidIdentifier }
        let resolved = snapshot.resolve(hash)
        if snapshot.isOptedOut(type: hash.type, firstLevelHash: resolved.firstLevelHash, forRefresh: false) { return .optOut }
        let options = snapshot.config.rawUIDOptions
        guard let current = resolved.bucket.currentRawUID(firstLevelHash: resolved.firstLevelHash, type: hash.type, options: options) else {
            return .invalidIdentifier
        }
        return .mapped(
            current: InlineBytes(current)!,
            previous: withPrevious
                ? resolved.bucket.previousRawUID(firstLevelHash: resolved.firstLevelHash, type: hash.type, options: options, asOfMillis: now)
                    .map { InlineBytes($0)! }
                : nil,
            refreshFromMillis: SaltSchedule.mappingRefreshFrom(refreshFromMillis: resolved.bucket.refreshFromMillis, nowMillis: now),
            bucketID: resolved.bucket.id
        )
    }

    @Test(arguments: [0, 1, 15, 16, 17, 32, 33, 200])
    func v3AnswersAsTheOneByOneLookup(count: Int) throws {
        let snapshot = try Self.snapshot()
        let emails = Self.emails(count)
        let answers = try snapshot.mapIdentities(IdentityMapRequest(inputs: [.email: emails]), nowMillis: Self.now).get()[.email] ?? []
        #expect(answers == emails.map { Self.expected(snapshot, $0, withPrevious: true) })
        if count == 200 {
            // The table really has every kind of answer, so the comparison above covers each.
            #expect(answers.contains(.optOut) && answers.contains(.invalidIdentifier))
            let previous = answers.compactMap { if case .mapped(_, let previous, _, _) = $0 { previous } else { nil } }
            #expect(previous.count > 20 && previous.count < answers.count - 20)
            let ids = Set(answers.compactMap { if case .mapped(_, _, _, let id) = $0 { id } else { nil } })
            #expect(ids.contains { $0 >= 5_000 } && ids.contains { $0 < 5_000 })
            #expect(emails.contains { Self.expected(snapshot, $0, withPrevious: true) == .invalidIdentifier && IdentityHash(kind: .email, value: $0) != nil })
        }
    }

    @Test(arguments: [1, 16, 17, 200])
    func v2AnswersAsTheOneByOneLookupInOrder(count: Int) throws {
        let snapshot = try Self.snapshot()
        var inputs = Self.emails(count).map(MapInput.string)
        for index in stride(from: 5, to: count, by: 11) { inputs[index] = .null }
        let result = try snapshot.mapIdentitiesV2(IdentityMapV2Request(fields: [.email: .values(inputs)]), nowMillis: Self.now).get()
        var mapped = [IdentityMapV2Result.Mapped]()
        var unmapped = [[String]]()   // identifier, reason
        for input in inputs {
            guard case .string(let text) = input else {
                unmapped.append(["null", "invalid identifier"])
                continue
            }
            switch Self.expected(snapshot, text, withPrevious: false) {
            case .mapped(let current, _, _, let bucketID): mapped.append(.init(identifier: text, advertisingID: current, bucketID: bucketID))
            case .optOut: unmapped.append([text, "optout"])
            case .invalidIdentifier: unmapped.append([text, "invalid identifier"])
            }
        }
        #expect(result.mapped == mapped)
        #expect(result.unmapped.map { [$0.identifier, $0.reason] } == unmapped)
        #expect(result.mapped.count + result.unmapped.count == count)
    }
}
