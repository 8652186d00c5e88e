import Hummingbird
import Synchronization
import UIDOperatorCore

/// Per-client request rate limits (`client_requests_per_second` in the runtime settings, so a
/// change reaches every node without a restart). Each API key has a token bucket holding one
/// second's worth of requests; an empty bucket is a 429 with the seconds until it refills.
final class ClientRateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updatedMillis: Int64
    }

    private let buckets = Mutex<[String: Bucket]>([:])

    /// Buckets kept at most; past it, full (idle) ones are forgotten.
    private static let maxTracked = 100_000

    /// nil when `client` may proceed; otherwise the 429 to answer.
    func refusal(for client: ClientKey, config: OperatorConfig, nowMillis: Int64) -> Response? {
        guard let rate = config.clientRequestsPerSecond, rate > 0 else { return nil }
        let capacity = Double(rate)
        let waitSeconds: Int? = buckets.withLock { buckets in
            if buckets.count >= Self.maxTracked { Self.forgetFull(&buckets, capacity: capacity, nowMillis: nowMillis) }
            var bucket = buckets[client.keyID] ?? Bucket(tokens: capacity, updatedMillis: nowMillis)
            let elapsed = Double(max(0, nowMillis - bucket.updatedMillis)) / 1000
            bucket.tokens = min(capacity, bucket.tokens + elapsed * capacity)
            bucket.updatedMillis = nowMillis
            defer { buckets[client.keyID] = bucket }
            guard bucket.tokens < 1 else {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / capacity).rounded(.up)))
        }
        guard let waitSeconds else { return nil }
        var response = APIResponse.error(
            .tooManyRequests, "client_error", "Rate limit of \(rate) requests per second exceeded; retry after \(waitSeconds) s"
        )
        response.headers[.retryAfter] = String(waitSeconds)
        return response
    }

    private static func forgetFull(_ buckets: inout [String: Bucket], capacity: Double, nowMillis: Int64) {
        buckets = buckets.filter { _, bucket in
            bucket.tokens + Double(max(0, nowMillis - bucket.updatedMillis)) / 1000 * capacity < capacity
        }
    }
}
