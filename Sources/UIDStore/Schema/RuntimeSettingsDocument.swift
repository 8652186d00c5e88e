import Foundation
import UIDOperatorCore

/// Runtime settings are one JSON document in `runtime_config` (row 1); a change bumps the
/// configuration version, so every node applies it.
enum RuntimeSettingsDocument {
    static func encode(_ settings: RuntimeSettings) throws -> String {
        String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
    }

    /// Defaults when never set.
    static func decode(_ json: String?) throws -> RuntimeSettings {
        guard let json else { return RuntimeSettings() }
        return try JSONDecoder().decode(RuntimeSettings.self, from: Data(json.utf8))
    }
}
