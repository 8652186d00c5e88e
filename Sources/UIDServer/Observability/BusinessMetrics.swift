import CoreMetrics
import Prometheus

/// The reference operator's own metrics, under its names and labels so that dashboards built for
/// it keep working. Labels that could grow without bound there (`api_contact`, `site_name`, raw
/// header values) are left out or reduced to a bounded set here.
final class BusinessMetrics: Sendable {
    enum TokenEndpoint: String, Sendable {
        case generate = "GenerateV2"
        case refresh = "RefreshV2"
        case clientSideGenerate = "ClientSideTokenGenerateV2"
    }

    enum PlatformType: String, Sendable {
        /// `X-UID2-Client-Version` names a mobile or TV SDK.
        case inApp = "InApp"
        /// The request came from a page (`Origin` header).
        case hasOriginHeader = "HasOriginHeader"
        case other = "Other"
    }

    struct TokenResponse: Hashable, Sendable {
        let siteID: Int32
        let endpoint: TokenEndpoint
        let status: String
        let tokenVersion: String
        let platform: PlatformType
    }

    struct SiteResult: Hashable, Sendable {
        let siteID: Int32?
        let result: String
    }

    struct SDKVersion: Hashable, Sendable {
        let siteID: Int32?
        let version: String
        let path: String
    }

    struct RefreshAge: Hashable, Sendable {
        let siteID: Int32
        let hasOrigin: Bool
    }

    struct RefreshExpiry: Hashable, Sendable {
        let siteID: Int32
        let hasOrigin: Bool
        let expired: Bool
    }

    struct RefreshVersion: Hashable, Sendable {
        let siteID: Int32
        let version: String
    }

    struct MapInputs: Hashable, Sendable {
        let path: String
        let kind: String
    }

    struct MapUnmapped: Hashable, Sendable {
        let path: String
        let reason: String
    }

    static let refreshDuration = "uid2_token_refresh_duration_seconds"
    static let mapInputs = "uid2_operator_identity_map_inputs"
    static let optOutStatusInputs = "uid2_operator_optout_status_input_size"
    static let optOutStatusOptedOut = "uid2_operator_optout_status_optout_size"

    static func configureBuckets(_ factory: inout PrometheusMetricsFactory) {
        let sizes: [Double] = [1, 10, 50, 100, 500, 1_000, 2_500, 5_000, 10_000]
        factory.valueHistogramBuckets[mapInputs] = sizes
        factory.valueHistogramBuckets[optOutStatusInputs] = sizes
        factory.valueHistogramBuckets[optOutStatusOptedOut] = sizes
        // Minutes to a month: how long clients wait between refreshes.
        factory.valueHistogramBuckets[refreshDuration] = [60, 300, 900, 1_800, 3_600, 7_200, 14_400, 43_200, 86_400, 259_200, 604_800, 2_592_000]
    }

    let tokenResponses: CounterFamily<TokenResponse>
    let tokenValidate: CounterFamily<SiteResult>
    let sdkVersions: CounterFamily<SDKVersion>
    let refreshDurations: RecorderFamily<RefreshAge>
    let expiredOnRefresh: CounterFamily<RefreshExpiry>
    let refreshTokensReceived: CounterFamily<RefreshVersion>
    let mapInputs: RecorderFamily<MapInputs>
    let mapUnmapped: CounterFamily<MapUnmapped>
    let mapRequestsWithUnmapped: CounterFamily<String>
    let optOutStatusInputs: CoreMetrics.Recorder
    let optOutStatusOptedOut: CoreMetrics.Recorder

    init(factory: PrometheusMetricsFactory, dropped: CoreMetrics.Counter) {
        tokenResponses = CounterFamily("uid2_token_response_status_count_total", factory: factory, dropped: dropped) { key in
            [
                ("site_id", String(key.siteID)), ("token_endpoint", key.endpoint.rawValue), ("token_response_status", key.status),
                ("advertising_token_version", key.tokenVersion), ("cstg", key.endpoint == .clientSideGenerate ? "true" : "false"),
                ("platform_type", key.platform.rawValue),
            ]
        }
        tokenValidate = CounterFamily("uid2_token_validate_total", factory: factory, dropped: dropped) { key in
            [("site_id", key.siteID.map { String($0) } ?? "unknown"), ("result", key.result)]
        }
        sdkVersions = CounterFamily("uid2_client_sdk_versions_total", factory: factory, limit: 500, dropped: dropped) { key in
            [("site_id", key.siteID.map { String($0) } ?? "unknown"), ("client_version", key.version), ("path", key.path)]
        }
        refreshDurations = RecorderFamily(Self.refreshDuration, factory: factory) { key in
            [("site_id", String(key.siteID)), ("has_origin_header", key.hasOrigin ? "true" : "false")]
        }
        expiredOnRefresh = CounterFamily("uid2_advertising_token_expired_on_refresh_total", factory: factory, dropped: dropped) { key in
            [("site_id", String(key.siteID)), ("has_origin_header", key.hasOrigin ? "true" : "false"), ("is_expired", key.expired ? "true" : "false")]
        }
        refreshTokensReceived = CounterFamily("uid2_refresh_token_received_count_total", factory: factory, dropped: dropped) { key in
            [("site_id", String(key.siteID)), ("refresh_token_version", key.version)]
        }
        mapInputs = RecorderFamily(Self.mapInputs, factory: factory) { key in [("path", key.path), ("dii_type", key.kind)] }
        mapUnmapped = CounterFamily("uid2_operator_identity_map_unmapped_total", factory: factory, dropped: dropped) { key in
            [("path", key.path), ("reason", key.reason)]
        }
        mapRequestsWithUnmapped = CounterFamily("uid2_operator_identity_map_unmapped_requests_total", factory: factory, dropped: dropped) {
            [("path", $0)]
        }
        optOutStatusInputs = CoreMetrics.Recorder(label: Self.optOutStatusInputs, aggregate: true, factory: factory)
        optOutStatusOptedOut = CoreMetrics.Recorder(label: Self.optOutStatusOptedOut, aggregate: true, factory: factory)
    }

    /// A client version as a label: SDK version strings are short and plain, anything else is
    /// `invalid` (the header is the caller's to choose; the series limit bounds the rest).
    static func clientVersionLabel(_ header: String) -> String {
        let utf8 = header.utf8
        guard !utf8.isEmpty, utf8.count <= 48, utf8.allSatisfy({ byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
        }) else { return "invalid" }
        return header
    }

    /// The reference's rule: a mobile or TV SDK's version header first, then a page's `Origin`.
    static func platform(clientVersion: String?, origin: String?) -> PlatformType {
        if let clientVersion, ["Android", "ios", "tvos"].contains(where: { clientVersion.contains($0) }) { return .inApp }
        return origin == nil ? .other : .hasOriginHeader
    }
}
