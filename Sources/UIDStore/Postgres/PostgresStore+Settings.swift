import Foundation
import PostgresNIO

extension PostgresStore {
    /// What a connection URL says.
    struct Settings {
        enum TLSMode: String { case disable, prefer, require, verifyCA = "verify-ca", verifyFull = "verify-full" }

        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var tls: TLSMode = .disable
        /// The most connections the node's pool opens (`pool_max_connections`); PostgresNIO's
        /// default of 20 per node is too many behind one primary for a large fleet.
        var maximumConnections = Settings.defaultMaximumConnections

        static let defaultMaximumConnections = 20
        /// One connection is enough (requests then wait their turn for it); more than this is a
        /// typo, not a plan: a node never has that many statements to run at once.
        static let maximumConnectionsRange = 1...500

        init(url: String) throws {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                  scheme == "postgres" || scheme == "postgresql"
            else { throw PostgresStoreError.invalidURL("expected postgres://user:password@host:port/database") }
            var host = components.host ?? ""
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.host = host.isEmpty ? "localhost" : host
            port = components.port ?? 5432
            guard let user = components.user, !user.isEmpty else { throw PostgresStoreError.invalidURL("the URL names no user") }
            username = user
            password = components.password
            var database = components.path
            if database.hasPrefix("/") { database.removeFirst() }
            database = database.removingPercentEncoding ?? database
            self.database = database.isEmpty ? nil : database
            for item in components.queryItems ?? [] {
                let value = item.value ?? ""
                switch item.name {
                case "sslmode":
                    if value == "allow" {
                        tls = .disable
                    } else if let mode = TLSMode(rawValue: value) {
                        tls = mode
                    } else {
                        throw PostgresStoreError.invalidURL("unknown sslmode \(value)")
                    }
                case "pool_max_connections":
                    let range = Self.maximumConnectionsRange
                    guard let count = Int(value), range.contains(count) else {
                        throw PostgresStoreError.invalidURL(
                            "pool_max_connections must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(value)\""
                        )
                    }
                    maximumConnections = count
                default:
                    throw PostgresStoreError.invalidURL("unsupported URL parameter \(item.name) (known: sslmode, pool_max_connections)")
                }
            }
        }

        private var tlsConfiguration: TLSConfiguration {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = switch tls {
            case .verifyFull: .fullVerification
            case .verifyCA: .noHostnameVerification
            default: .none
            }
            return configuration
        }

        private static let startupParameters = [("client_encoding", "UTF8"), ("application_name", "uid-operator")]

        func clientConfiguration() -> PostgresClient.Configuration {
            let tls: PostgresClient.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(tlsConfiguration)
            default: .require(tlsConfiguration)
            }
            var configuration = PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
            configuration.options.additionalStartupParameters = Self.startupParameters
            // A server that went away is reported within seconds, not after the pool's long default.
            configuration.options.connectTimeout = .seconds(3)
            configuration.options.maximumConnections = maximumConnections
            return configuration
        }

        func connectionConfiguration() throws -> PostgresConnection.Configuration {
            let tls: PostgresConnection.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: tlsConfiguration))
            default: .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
            var configuration = PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
            configuration.options.additionalStartupParameters = Self.startupParameters
            return configuration
        }
    }
}
