import CAllocator

/// Keeps glibc's allocator from handing a request's memory back to the kernel after every batch.
///
/// An identity map of 5,000 identities allocates a few blocks of several hundred kilobytes (the
/// decoded request, the answers, the JSON, the sealed envelope) and frees them when it answers.
/// With the allocator's defaults, the free memory at the top of a thread's arena then exceeds the
/// trim threshold and is returned to the kernel (`madvise`), so the next request faults every
/// page in again, zeroed: 15 % of a map's server CPU went to the kernel that way. Fixed
/// thresholds keep blocks up to `mmapThreshold` in the arenas and keep up to `trimThreshold` of
/// free memory in each for reuse; memory a node used at its peak stays mapped, as it would under
/// any allocator that caches.
public enum AllocatorTuning {
    /// Blocks larger than this are mapped on their own and unmapped when freed (the opt-out
    /// index, the salt pool: long-lived, and best returned whole).
    public static let mmapThreshold = 4 << 20
    /// Free memory an arena keeps before it returns any to the kernel.
    public static let trimThreshold = 32 << 20

    /// Environment variables through which an operator tunes glibc's allocator: when one is set,
    /// the process is left as configured.
    static let operatorSettings = ["MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_"]

    /// Whether to apply the thresholds given this environment.
    public static func applies(environment: [String: String]) -> Bool {
        if let tunables = environment["GLIBC_TUNABLES"], tunables.contains("glibc.malloc.") { return false }
        return !operatorSettings.contains { environment[$0] != nil }
    }

    /// Applies the thresholds unless the environment tunes the allocator itself; true when applied.
    /// Call once at start-up, before the server's threads allocate.
    @discardableResult
    public static func apply(environment: [String: String]) -> Bool {
        guard applies(environment: environment) else { return false }
        // Setting either threshold turns off glibc's own adjustment of both, so both are set.
        return uid_set_allocator_thresholds(Int32(mmapThreshold), Int32(trimThreshold)) == 1
    }
}
