// Hashids (https://hashids.org) — encoder only, pure Swift, no imports.
//
// Reproduces the output of org.hashids 1.0.3 (Java, used by the reference operator) and of the
// Python package `hashids` 1.3.1 for the default alphabet
// `abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890` and default separators
// `cfhistuCFHISTU`: consistent shuffle, separator/guard ratios 3.5 / 12, guard + alphabet padding
// up to `minLength`.
//
// Used for identity-map `bucket_id` (docs/PROTOCOL.md#bucket-ids):
//     idPrefix + Hashids(salt: idSecret, minLength: 9).encode([bucketId])
//
// All work happens on byte / code-point arrays; the shuffled alphabet, separators and guards are
// computed once in `init`, so `encode` only does the per-number shuffles.
//
// Notes on edge cases:
// * Salt characters are taken as Unicode scalar values (Python semantics; identical to Java for
//   BMP characters, which covers every base64 `id_secret`).
// * Negative numbers or an empty list encode to "" (both reference libraries do the same).
// * Numbers above 2^53 are encoded like Python does (Java 1.0.3 would throw instead).

public struct Hashids: Sendable {
    /// Default alphabet of the reference libraries.
    public static let defaultAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890"
    /// Default separators of the reference libraries.
    public static let defaultSeparators = "cfhistuCFHISTU"

    private static let separatorRatio = 3.5
    private static let guardRatio = 12.0

    public let minLength: Int
    /// Salt as Unicode scalar values.
    private let salt: [UInt32]
    /// Alphabet after removing separators/guards and shuffling with the salt.
    private let alphabet: [UInt8]
    private let separators: [UInt8]
    private let guards: [UInt8]
    /// For a single number `n`, the alphabet after its first shuffle and after the first padding
    /// shuffle, by `n % 100 % alphabet.count`: both shuffles depend on nothing else (see `withEncodedSingle`).
    /// Flat (alphabet `i` at `i * alphabet.count`): reading a nested array would retain it, and the
    /// threads mapping identities at once would contend for its reference count.
    private let singleNumberAlphabets: [UInt8]
    private let singleNumberPaddingAlphabets: [UInt8]
    /// For a single number, by `n % 100`: the lottery index (`n % 100 % alphabet.count`) and the
    /// opening guard, which depends on nothing else. Divisions by the alphabet's and the guards'
    /// counts were most of an encoding's time, and identity map v2 writes one per identity.
    private let singleNumberLotteries: [UInt8]
    private let singleNumberOpeningGuards: [UInt8]
    /// `guards[x % guards.count]` for x below 100 + 256: the closing guard's index is `n % 100`
    /// plus a character.
    private let guardsBySum: [UInt8]
    /// ⌈2^64 / alphabet.count⌉, to divide 32-bit numbers by the alphabet's count.
    private let singleNumberReciprocal: UInt64

    public init(salt: String, minLength: Int = 0) {
        self.minLength = max(0, minLength)
        let saltScalars = salt.unicodeScalars.map { $0.value }
        self.salt = saltScalars

        let sepSource = Array(Hashids.defaultSeparators.utf8)
        // Unique alphabet characters, without the separators (the default alphabet is already unique).
        var alpha: [UInt8] = []
        for c in Hashids.defaultAlphabet.utf8 where !alpha.contains(c) && !sepSource.contains(c) {
            alpha.append(c)
        }
        // Separators that occur in the alphabet, in separator order.
        let alphabetBytes = Array(Hashids.defaultAlphabet.utf8)
        var seps: [UInt8] = sepSource.filter { alphabetBytes.contains($0) }

        Hashids.consistentShuffle(&seps, salt: saltScalars)

        let sepCount = seps.count
        var minSeparators = Hashids.ceilRatio(alpha.count, Hashids.separatorRatio)
        if seps.isEmpty || sepCount < minSeparators {
            if minSeparators == 1 { minSeparators = 2 }
            if minSeparators > sepCount {
                let splitAt = minSeparators - sepCount
                seps.append(contentsOf: alpha[0..<splitAt])
                alpha.removeFirst(splitAt)
            } else {
                seps = Array(seps[0..<minSeparators])
            }
        }

        Hashids.consistentShuffle(&alpha, salt: saltScalars)

        let guardCount = Hashids.ceilRatio(alpha.count, Hashids.guardRatio)
        var grds: [UInt8]
        if alpha.count < 3 {
            grds = Array(seps[0..<guardCount])
            seps.removeFirst(guardCount)
        } else {
            grds = Array(alpha[0..<guardCount])
            alpha.removeFirst(guardCount)
        }

        self.alphabet = alpha
        self.separators = seps
        self.guards = grds

        // One single-number shuffle state per lottery character: its salt is
        // (lottery ‖ salt ‖ alphabet) cut to the alphabet's length, and the padding shuffle's salt
        // is the shuffled alphabet itself.
        var shuffled = [UInt8]()
        var padding = [UInt8]()
        for lottery in alpha {
            var shuffleSalt = [UInt32(lottery)] + saltScalars + alpha.map(UInt32.init)
            shuffleSalt.removeLast(max(0, shuffleSalt.count - alpha.count))
            var first = alpha
            Hashids.consistentShuffle(&first, salt: shuffleSalt)
            var padded = first
            Hashids.consistentShuffle(&padded, salt: first.map(UInt32.init))
            shuffled.append(contentsOf: first)
            padding.append(contentsOf: padded)
        }
        self.singleNumberAlphabets = shuffled
        self.singleNumberPaddingAlphabets = padding
        // Left empty when the alphabet cannot encode (fewer than two characters, or no guards):
        // `withEncodedSingle` then leaves every number to the general algorithm.
        if alpha.count >= 2, alpha.count <= Int(UInt8.max), !grds.isEmpty {
            let lotteries = (0..<100).map { UInt8(truncatingIfNeeded: $0 % alpha.count) }
            singleNumberLotteries = lotteries
            singleNumberOpeningGuards = lotteries.enumerated().map { valuesHash, lottery in
                grds[(valuesHash + Int(alpha[Int(lottery)])) % grds.count]
            }
            guardsBySum = (0..<(100 + 256)).map { grds[$0 % grds.count] }
            singleNumberReciprocal = UInt64.max / UInt64(alpha.count) + 1
        } else {
            singleNumberReciprocal = 0
            singleNumberLotteries = []
            singleNumberOpeningGuards = []
            guardsBySum = []
        }
    }

    /// Buffers the general algorithm works in (several numbers, or one the tables leave to it), so
    /// a caller encoding many can reuse them instead of allocating four arrays per call.
    public struct Workspace {
        fileprivate var alpha: [UInt8] = []
        fileprivate var shuffleSalt: [UInt32] = []
        fileprivate var encoded: [UInt8] = []
        fileprivate var padded: [UInt8] = []

        public init() {}
    }

    /// Encodes non-negative numbers; returns "" for an empty list or if any number is negative.
    public func encode(_ numbers: [Int64]) -> String {
        var workspace = Workspace()
        if numbers.count == 1, let number = numbers.first { return encode(number, using: &workspace) }
        return numbers.withUnsafeBufferPointer { encode($0, using: &workspace) }
    }

    /// `encode([number])`, in `workspace`'s buffers.
    public func encode(_ number: Int64, using workspace: inout Workspace) -> String {
        if let encoded = encodeSingle(number) { return encoded }
        return encodeInGeneral(number, using: &workspace)
    }

    /// `encode([number])` by the general algorithm, without `encodeSingle`'s tables (tests compare the two).
    /// Visible to the fuzz targets (`@_spi(Differential)`), which compare it with `encodeSingle` too.
    @_spi(Differential)
    public func encodeInGeneral(_ number: Int64, using workspace: inout Workspace) -> String {
        // Not generic over the numbers' collection: unspecialised (debug) code would walk it
        // through witness calls, and `/v2/identity/buckets` encodes every bucket of the table.
        withUnsafePointer(to: number) { encode(UnsafeBufferPointer(start: $0, count: 1), using: &workspace) }
    }

    /// `encode([n])` with the shuffles taken from the tables made in `init`, or nil where
    /// `withEncodedSingle` leaves the number to the general algorithm.
    @_spi(Differential)
    public func encodeSingle(_ number: Int64) -> String? {
        var text: String?
        _ = withEncodedSingle(number) { text = String(decoding: $0, as: UTF8.self) }
        return text
    }

    /// Room `withEncodedSingle` needs before its answer: a guard, the lottery character, at most
    /// 64 digits (the base is at least 2) and the closing guard.
    private static let singleScratchCount = 67

    /// `prefix` followed by `encode([number])`'s characters, built on the stack and handed to
    /// `body` (identity map v2 writes a bucket id per identity: as a `String` each, the arrays and
    /// the string cost more than the encoding). Not generic, so a caller in another module does
    /// not look up type metadata per call.
    ///
    /// The shuffles come from the tables made in `init`: for one number the lottery character is
    /// `alphabet[n % 100 % count]`, the first shuffle's salt is made of it, the salt and the
    /// unshuffled alphabet, and the padding shuffle's salt is the shuffled alphabet, so both results
    /// depend on the lottery index alone. False, without calling `body`, when the number is negative
    /// or needs more than one padding round: the general algorithm then answers.
    public func withEncodedSingle(_ number: Int64, prefix: [UInt8] = [], _ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool {
        let alphaCount = alphabet.count
        guard number >= 0, singleNumberLotteries.count == 100, singleNumberOpeningGuards.count == 100,
              guardsBySum.count == 100 + 256, !separators.isEmpty
        else { return false }
        let valuesHash = Int(number % 100)
        let lotteryIndex = Int(singleNumberLotteries[valuesHash])
        let (tableStart, tableOverflow) = lotteryIndex.multipliedReportingOverflow(by: alphaCount)
        guard !tableOverflow, tableStart + alphaCount <= singleNumberAlphabets.count,
              tableStart + alphaCount <= singleNumberPaddingAlphabets.count
        else { return false }
        // The answer (prefix, then at most `max(minLength, scratchCount)` characters) follows the scratch.
        let scratchCount = Self.singleScratchCount
        let (answerRoom, roomOverflow) = prefix.count.addingReportingOverflow(max(minLength, scratchCount))
        let (capacity, capacityOverflow) = scratchCount.addingReportingOverflow(answerRoom)
        guard !roomOverflow, !capacityOverflow else { return false }

        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer -> Bool in
            // The encoding is `buffer[start..<end]`; index 0 is kept free for the opening guard.
            var start = 1
            buffer[1] = alphabet[lotteryIndex]
            var end = 2
            // Digits least significant first; without a division while the number fits in 32
            // bits (bucket numbers do): divisions were most of an encoding's time.
            if let small = UInt32(exactly: number) {
                var v = small
                let base = UInt32(truncatingIfNeeded: alphaCount)
                repeat {
                    // v / base as a multiplication by the reciprocal: exact for 32-bit numbers
                    // (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019).
                    let quotient = UInt32(truncatingIfNeeded: singleNumberReciprocal.multipliedFullWidth(by: UInt64(v)).high)
                    let digit = v &- quotient &* base
                    buffer[end] = singleNumberAlphabets[tableStart + Int(digit)]
                    end += 1
                    v = quotient
                } while v != 0
            } else {
                var v = UInt64(number)
                let base = UInt64(alphaCount)
                repeat {
                    let (quotient, digit) = v.quotientAndRemainder(dividingBy: base)
                    buffer[end] = singleNumberAlphabets[tableStart + Int(digit)]
                    end += 1
                    v = quotient
                } while v != 0
            }
            var low = 2
            var high = end - 1
            while low < high {
                buffer.swapAt(low, high)
                low += 1
                high -= 1
            }

            var answerEnd = scratchCount
            for byte in prefix {
                buffer[answerEnd] = byte
                answerEnd += 1
            }
            var padded = false
            if end - start < minLength {
                buffer[0] = singleNumberOpeningGuards[valuesHash]
                start = 0
                if end - start < minLength {
                    // The first digit, third character once the opening guard is in.
                    buffer[end] = guardsBySum[valuesHash + Int(buffer[2])]
                    end += 1
                }
                if end - start < minLength {
                    // padded = padding[half…] + encoded + padding[…half]; the answer is its middle
                    // `minLength` characters.
                    let encodedCount = end - start
                    let paddedCount = encodedCount + alphaCount
                    guard paddedCount >= minLength else { return false }
                    let from = (paddedCount - minLength) / 2
                    let splitAt = tableStart + alphaCount / 2
                    let upperCount = alphaCount - alphaCount / 2
                    let encodedEnd = upperCount + encodedCount
                    // The window's part in each of the three runs, copied run by run: a branch per
                    // character mispredicted, as the runs' lengths change with the number.
                    let window = from..<(from + minLength)
                    for index in window.clamped(to: 0..<upperCount) {
                        buffer[answerEnd] = singleNumberPaddingAlphabets[splitAt + index]
                        answerEnd += 1
                    }
                    for index in window.clamped(to: upperCount..<encodedEnd) {
                        buffer[answerEnd] = buffer[start + index - upperCount]
                        answerEnd += 1
                    }
                    for index in window.clamped(to: encodedEnd..<paddedCount) {
                        buffer[answerEnd] = singleNumberPaddingAlphabets[tableStart + index - encodedEnd]
                        answerEnd += 1
                    }
                    padded = true
                }
            }
            if !padded {
                for index in start..<end {
                    buffer[answerEnd] = buffer[index]
                    answerEnd += 1
                }
            }
            body(UnsafeBufferPointer(rebasing: buffer[scratchCount..<answerEnd]))
            return true
        }
    }

    private func encode(_ numbers: UnsafeBufferPointer<Int64>, using workspace: inout Workspace) -> String {
        if numbers.isEmpty { return "" }
        for n in numbers where n < 0 { return "" }

        // The buffers are moved out of the workspace (and back at the end), so each stays uniquely
        // referenced and is reused without copying.
        var alpha: [UInt8] = []
        var shuffleSalt: [UInt32] = []
        var encoded: [UInt8] = []
        var padded: [UInt8] = []
        swap(&alpha, &workspace.alpha)
        swap(&shuffleSalt, &workspace.shuffleSalt)
        swap(&encoded, &workspace.encoded)
        swap(&padded, &workspace.padded)
        defer {
            swap(&alpha, &workspace.alpha)
            swap(&shuffleSalt, &workspace.shuffleSalt)
            swap(&encoded, &workspace.encoded)
            swap(&padded, &workspace.padded)
        }

        alpha.removeAll(keepingCapacity: true)
        alpha.append(contentsOf: alphabet)
        let alphaCount = alpha.count

        var valuesHash: Int64 = 0
        for (i, n) in numbers.enumerated() {
            valuesHash &+= n % Int64(i + 100)
        }

        let lottery = alpha[Int(valuesHash % Int64(alphaCount))]
        encoded.removeAll(keepingCapacity: true)
        encoded.reserveCapacity(max(minLength, 16 * numbers.count) + alphaCount)
        encoded.append(lottery)

        // Buffer for (lottery + salt + alphabet)[0..<alphaCount], and later for the padding's salt.
        shuffleSalt.removeAll(keepingCapacity: true)
        shuffleSalt.append(contentsOf: repeatElement(0, count: alphaCount))

        for (i, n) in numbers.enumerated() {
            var k = 0
            shuffleSalt[k] = UInt32(lottery); k += 1
            var s = 0
            while k < alphaCount && s < salt.count { shuffleSalt[k] = salt[s]; k += 1; s += 1 }
            var a = 0
            while k < alphaCount { shuffleSalt[k] = UInt32(alpha[a]); k += 1; a += 1 }
            Hashids.consistentShuffle(&alpha, salt: shuffleSalt)

            // "hash": base-alphaCount digits of n, least significant first, then reversed in place.
            let digitsStart = encoded.count
            var v = UInt64(n)
            let base = UInt64(alphaCount)
            repeat {
                encoded.append(alpha[Int(v % base)])
                v /= base
            } while v != 0
            encoded[digitsStart...].reverse()
            let first = encoded[digitsStart]

            if i + 1 < numbers.count {
                let m = UInt64(n) % UInt64(Int(first) + i)
                encoded.append(separators[Int(m % UInt64(separators.count))])
            }
        }

        if encoded.count < minLength {
            let guardCount = guards.count
            let g0 = Int((valuesHash + Int64(encoded[0])) % Int64(guardCount))
            encoded.insert(guards[g0], at: 0)
            if encoded.count < minLength {
                let g1 = Int((valuesHash + Int64(encoded[2])) % Int64(guardCount))
                encoded.append(guards[g1])
            }
            let splitAt = alphaCount / 2
            while encoded.count < minLength {
                for position in 0..<alphaCount { shuffleSalt[position] = UInt32(alpha[position]) }
                Hashids.consistentShuffle(&alpha, salt: shuffleSalt)
                padded.removeAll(keepingCapacity: true)
                padded.reserveCapacity(encoded.count + alphaCount)
                padded.append(contentsOf: alpha[splitAt...])
                padded.append(contentsOf: encoded)
                padded.append(contentsOf: alpha[..<splitAt])
                let excess = padded.count - minLength
                if excess > 0 {
                    let from = excess / 2
                    encoded.removeAll(keepingCapacity: true)
                    encoded.append(contentsOf: padded[from..<(from + minLength)])
                } else {
                    swap(&encoded, &padded)
                }
            }
        }

        return String(decoding: encoded, as: UTF8.self)
    }

    // MARK: - internals

    /// The Hashids "consistent shuffle".
    @inline(__always)
    static func consistentShuffle(_ chars: inout [UInt8], salt: [UInt32]) {
        let saltCount = salt.count
        if saltCount == 0 || chars.count < 2 { return }
        var i = chars.count - 1
        var index = 0
        var sum = 0
        while i > 0 {
            // `index` only ever steps by one: wrapping it is `index %= saltCount` without a division
            // (identity map v2 encodes a bucket id per identity).
            if index == saltCount { index = 0 }
            let integer = Int(salt[index])
            sum += integer
            let j = (integer + index + sum) % i
            chars.swapAt(i, j)
            i -= 1
            index += 1
        }
    }

    private static func ceilRatio(_ dividend: Int, _ divisor: Double) -> Int {
        let q = Double(dividend) / divisor
        let t = Int(q)
        return Double(t) < q ? t + 1 : t
    }
}
