import NIOCore
import NIOPosix

@main
enum Entry {
    static func main() async {
        // Tasks run on NIO's event loops instead of a separate thread pool: a request's handler
        // then runs on the thread that read it and writes its answer without two thread hops
        // (docs/PERFORMANCE.md). Must happen before any other task exists.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await UIDOperatorCommand.main()
    }
}
