import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Outermost middleware: gives every request an id (the caller's `X-Request-Id` when it is a
/// plain token, a fresh one otherwise; returned either way), makes it the `request_id` of every
/// log line written while the request runs, and counts and times the answer per route.
struct ObservabilityMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: OperatorMetrics?
    let accessLog: Logger?
    /// Paths logged by name; any other is logged as `other`.
    let knownPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let requestID = RequestID.accepting(request.headers[ObservedHeaders.requestID])
        let observation = RequestObservation(requestID: requestID, metrics: metrics)
        var response: Response
        do {
            response = try await RequestObservation.$current.withValue(observation) {
                try await next(request, context)
            }
        } catch {
            // ErrorMiddleware answers everything; this only keeps the books straight if it did not.
            finish(request, observation: observation, code: 500, started: started)
            throw error
        }
        // Appended, not set: no route names this header, so there is nothing to search for and replace.
        response.headers.append(HTTPField(name: ObservedHeaders.requestID, value: requestID))
        finish(request, observation: observation, code: Int(response.status.code), started: started)
        return response
    }

    private func finish(_ request: Request, observation: RequestObservation, code: Int, started: ContinuousClock.Instant) {
        guard metrics != nil || accessLog != nil else { return }
        let elapsed = ContinuousClock.now - started
        let nanoseconds = elapsed.components.seconds &* 1_000_000_000 &+ elapsed.components.attoseconds / 1_000_000_000
        let facts = observation.snapshot
        let status = facts.statusText ?? Self.statusText(forCode: code)
        let path = request.uri.path
        if let metrics {
            let endpoint = metrics.endpoint(for: path)
            endpoint.record(code: code, status: status, nanoseconds: nanoseconds)
            if let version = request.headers[ObservedHeaders.clientVersion] {
                metrics.business.sdkVersions.increment(.init(
                    siteID: facts.siteID, version: BusinessMetrics.clientVersionLabel(version), path: endpoint.path
                ))
            }
        }
        if let accessLog {
            // The route's own name only: an unknown path could carry anything a caller typed.
            let known = knownPaths.contains(path) ? path : "other"
            var metadata: Logger.Metadata = [
                "request_id": .string(observation.requestID), "method": .string(request.method.rawValue),
                "path": .string(known), "code": .stringConvertible(code), "status": .string(status),
                "duration_ms": .string(String(Double(nanoseconds / 1_000) / 1_000)),
            ]
            if let site = facts.siteID { metadata["site_id"] = .stringConvertible(site) }
            if let keyID = facts.clientKeyID { metadata["client_key_id"] = .string(keyID) }
            accessLog.info("request", metadata: metadata)
        }
    }

    /// The `status` label of answers no route named: those without a JSON status of their own.
    static func statusText(forCode code: Int) -> String {
        switch code {
        case 200..<300: "success"
        case 401: "unauthorized"
        case 413: "payload_too_large"
        case 400..<500: "client_error"
        default: "unknown"
        }
    }
}

enum ObservedHeaders {
    // Both are valid header names, so the initialiser cannot fail.
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let clientVersion = HTTPField.Name("X-UID2-Client-Version")!
}

/// Request ids: kept when the caller's is a plain token of at most 128 characters, so it can be
/// followed across systems and cannot forge a log line; otherwise 16 hex digits, fresh per request.
enum RequestID {
    static func accepting(_ header: String?) -> String {
        if let header, isAcceptable(header) { return header }
        return generate()
    }

    static func isAcceptable(_ text: String) -> Bool {
        let utf8 = text.utf8
        return !utf8.isEmpty && utf8.count <= 128 && utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
        }
    }

    /// A random start per process, then a counter scrambled by a bijection (SplitMix64's finalizer):
    /// ids look random and never repeat within a process, without asking the system for random
    /// bytes on every request. They identify; they are not secrets.
    private static let start = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(0)

    static func generate() -> String {
        var value = start &+ counter.wrappingAdd(1, ordering: .relaxed).oldValue &* 0x9E37_79B9_7F4A_7C15
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        value ^= value >> 31
        return hex(value)
    }

    /// 16 lowercase hex digits, written straight into the string's storage.
    static func hex(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            for index in 0..<min(16, buffer.count) {
                let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * index)) & 0xF
                buffer[index] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
            }
            return min(16, buffer.count)
        }
    }
}
