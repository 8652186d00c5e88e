import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Checks that `serve` can listen before it spends seconds loading the store, so a busy port is
/// one clear line rather than a bind error after the load.
enum PortCheck {
    static func ensureAvailable(host: String, port: Int) async throws {
        guard port != 0 else { return }
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw CommandFailure("Port \(port) on \(host) is already in use (another uid-operator?); choose another with --port.")
        } catch let error as IOError where error.errnoCode == EACCES {
            throw CommandFailure("Not allowed to listen on \(host):\(port) (ports below 1024 need privileges); choose another with --port.")
        } catch {
            throw CommandFailure("Cannot listen on \(host):\(port): \(error)")
        }
        try await channel.close()
    }
}
