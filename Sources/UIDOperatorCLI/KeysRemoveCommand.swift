import ArgumentParser
import UIDOperatorCore
import UIDProtocol
import UIDStore

extension KeysCommand {
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Withdraw a key (one that leaked): it no longer encrypts, decrypts or is published.",
            discussion: """
                Tokens encrypted with the key stop decrypting, on every node within its sync interval; refresh tokens \
                under a removed refresh key become invalid. A site whose default keyset is left without an active key \
                encrypts under the fallback publisher keyset (2). Removing the key that the master (-1), refresh (-2) or \
                fallback publisher (2) keyset encrypts with now, with no other active key to take over, is refused: \
                add one first with `keys rotate --activates-in-seconds 0`.
                """
        )
        @OptionGroup var store: StoreOptions
        @Option(help: "The key's id (see `keys list`).") var keyId: Int32
        @Flag(help: "Print JSON for scripts.") var json = false

        func run() async throws {
            let store = try await self.store.openForAdministration()
            let contents = try await store.loadConfiguration()
            guard let key = contents.keys.first(where: { $0.id == keyId }) else { throw ValidationError("No key \(keyId)") }
            let now = OperatorClock.system.nowMillis() / 1000
            if Self.operatorKeysetIDs.contains(key.keysetID) {
                let before = try KeyRing(keysets: contents.keysets, keys: contents.keys)
                let after = try KeyRing(keysets: contents.keysets, keys: contents.keys.filter { $0.id != keyId })
                if before.activeKey(keysetID: key.keysetID, atSeconds: now) != nil, after.activeKey(keysetID: key.keysetID, atSeconds: now) == nil {
                    throw CommandFailure("Refused: keyset \(key.keysetID) would have no active key and the operator could issue no tokens. Add one with `keys rotate --keyset-id \(key.keysetID) --activates-in-seconds 0` first.")
                }
            }
            guard try await store.removeKey(id: keyId) else { throw ValidationError("No key \(keyId)") }
            try emit(json: json, ["key_id": keyId, "keyset_id": key.keysetID, "removed": true],
                     human: "Key \(keyId) removed from keyset \(key.keysetID).")
        }

        /// Keysets every token needs (master, refresh) or that sites fall back on (fallback publisher).
        static let operatorKeysetIDs: Set<Int32> = [Keyset.masterKeysetID, Keyset.refreshKeysetID, Keyset.fallbackPublisherKeysetID]
    }
}
