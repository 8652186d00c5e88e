import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

@main
enum Entry {
    static func main() async {
        // Tasks run on NIO's event loops instead of a separate thread pool: a request's handler
        // then runs on the thread that read it and writes its answer without two thread hops
        // (docs/PERFORMANCE.md). Must happen before any other task exists.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        // Parsing errors are usage errors (exit 64, with the command's usage); anything a command
        // throws while running is an ordinary failure: its message alone, exit 1.
        let command: any ParsableCommand
        do {
            command = try UIDOperatorCommand.parseAsRoot()
        } catch {
            UIDOperatorCommand.exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch let error as CleanExit {
            UIDOperatorCommand.exit(withError: error)
        } catch let error as ExitCode {
            UIDOperatorCommand.exit(withError: error)
        } catch let error as ValidationError {
            fail(error.message)
        } catch where UIDOperatorCommand.exitCode(for: error) == .success {
            // A request for help: `--help` comes back from `run()` as ArgumentParser's own
            // error, which it prints as the command's help.
            UIDOperatorCommand.exit(withError: error)
        } catch {
            fail(String(describing: error))
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        exit(1)
    }
}
