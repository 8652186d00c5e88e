// The libFuzzer driver (built only with UID_FUZZ=1; see Package.swift and scripts/fuzz).
//
//   UID_FUZZ_TARGET=refresh-token uid-fuzz CORPUS_DIR -max_total_time=600
//   UID_FUZZ_TARGET=refresh-token UID_FUZZ_WRITE_SEEDS=DIR uid-fuzz   (writes the seeds, exits)
//
// libFuzzer calls `LLVMFuzzerInitialize` once and `LLVMFuzzerTestOneInput` per input, whichever
// `main` the linker picks: libFuzzer's own, or this file's, which hands over to
// `LLVMFuzzerRunDriver`.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import UIDFuzzTargets

/// Set by `LLVMFuzzerInitialize`, before libFuzzer calls back with any input.
nonisolated(unsafe) var selected: FuzzTarget?

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("uid-fuzz: \(message)\n".utf8))
    exit(status)
}

@_cdecl("LLVMFuzzerInitialize")
func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
    let environment = ProcessInfo.processInfo.environment
    guard let name = environment["UID_FUZZ_TARGET"], let target = FuzzTargets.named(name) else {
        fail("set UID_FUZZ_TARGET to one of: \(FuzzTargets.all.map(\.name).joined(separator: ", "))", status: 2)
    }
    selected = target
    if let directory = environment["UID_FUZZ_WRITE_SEEDS"] {
        let url = URL(fileURLWithPath: directory)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for (index, seed) in target.seeds().enumerated() {
                try Data(seed).write(to: url.appendingPathComponent(String(format: "seed-%03d", index)))
            }
        } catch {
            fail("cannot write seeds to \(directory): \(error)", status: 1)
        }
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let target = selected else { fail("LLVMFuzzerInitialize was not called", status: 2) }
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let finding = target.run(bytes) {
        FileHandle.standardError.write(Data("uid-fuzz: FINDING in \(target.name): \(finding)\n".utf8))
        abort()
    }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runFuzzerDriver(&argc, &argv, { data, size in fuzzerTestOneInput(data, size) }))
