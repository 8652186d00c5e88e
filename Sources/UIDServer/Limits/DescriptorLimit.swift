#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit. A listener that runs out of descriptors stops answering
/// everyone, so the soft limit is raised to the hard one at start-up and the connection cap is
/// kept below it, with room left for the store, log and key files.
public enum DescriptorLimit {
    /// Descriptors kept for everything but client connections.
    public static func reserve(forLimit limit: Int) -> Int { 64 + limit / 16 }

    /// Raises the soft limit to the hard limit; returns the soft limit in force afterwards
    /// (nil when it cannot be read).
    @discardableResult
    public static func raiseSoftLimit() -> Int? {
        var limits = rlimit()
        guard getrlimit(resourceLimitNoFile, &limits) == 0 else { return nil }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(resourceLimitNoFile, &raised) == 0 { limits = raised }
        }
        // RLIM_INFINITY is all ones, which Swift cannot import as a constant.
        return limits.rlim_cur == ~rlim_t(0) ? Int.max : Int(clamping: limits.rlim_cur)
    }

    /// `requested` lowered, when needed, so that connections and the reserve fit in `softLimit`.
    public static func connectionCap(requested: Int, softLimit: Int?) -> Int {
        guard let softLimit, softLimit < Int.max else { return requested }
        let available = softLimit - reserve(forLimit: softLimit)
        return max(1, min(requested, available))
    }

    #if canImport(Glibc)
    private static let resourceLimitNoFile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resourceLimitNoFile = RLIMIT_NOFILE
    #endif
}
