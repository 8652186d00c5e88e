// The libFuzzer driver (built only with UID_FUZZ=1; see Package.swift and scripts/fuzz). Compiled
// with -parse-as-library: libFuzzer supplies `main` and calls the two functions below.
//
//   UID_FUZZ_TARGET=refresh-token uid-fuzz CORPUS_DIR -max_total_time=600
//   UID_FUZZ_TARGET=refresh-token UID_FUZZ_WRITE_SEEDS=DIR uid-fuzz   (writes the seeds, exits)
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import UIDFuzzTargets

nonisolated(unsafe) private var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
    guard let name = ProcessInfo.processInfo.environment["UID_FUZZ_TARGET"], let target = FuzzTargets.named(name) else {
        FileHandle.standardError.write(Data("uid-fuzz: set UID_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    selected = target
    if let directory = ProcessInfo.processInfo.environment["UID_FUZZ_WRITE_SEEDS"] {
        let url = URL(fileURLWithPath: directory)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for (index, seed) in target.seeds().enumerated() {
                try Data(seed).write(to: url.appendingPathComponent(String(format: "seed-%03d", index)))
            }
        } catch {
            FileHandle.standardError.write(Data("uid-fuzz: cannot write seeds to \(directory): \(error)\n".utf8))
            exit(1)
        }
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let finding = selected?.run(bytes) {
        FileHandle.standardError.write(Data("uid-fuzz: FINDING in \(selected?.name ?? "?"): \(finding)\n".utf8))
        abort()
    }
    return 0
}
