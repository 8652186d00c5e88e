import Testing
@testable import UIDServer

@Suite struct AllocatorTuningTests {
    @Test func leavesAnAllocatorTheEnvironmentTunesAlone() {
        #expect(AllocatorTuning.applies(environment: [:]))
        #expect(AllocatorTuning.applies(environment: ["GLIBC_TUNABLES": "glibc.rtld.nns=2", "PATH": "/bin"]))
        #expect(!AllocatorTuning.applies(environment: ["GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"]))
        for name in AllocatorTuning.operatorSettings {
            #expect(!AllocatorTuning.applies(environment: [name: "65536"]), "\(name)")
            #expect(!AllocatorTuning.apply(environment: [name: "65536"]), "\(name)")
        }
    }

    #if os(Linux)
    /// glibc accepts both thresholds (mallopt answers 1 for each).
    @Test func setsBothThresholdsOnGlibc() {
        #expect(AllocatorTuning.apply(environment: [:]))
    }
    #endif
}
