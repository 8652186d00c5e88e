import Testing
import UIDOperatorCore

@Suite struct RuntimeSettingsTests {
    @Test func laterLayersWinAndOrderingIsEnforced() throws {
        var stored = RuntimeSettings()
        stored.identityTokenExpiresAfterSeconds = 7_200
        stored.identityEnvironment = "prod"
        var flags = RuntimeSettings()
        flags.identityTokenExpiresAfterSeconds = 3_600
        let config = try stored.merging(flags).applied(to: OperatorConfig())
        #expect(config.lifetimes.identityTokenExpiresAfterSeconds == 3_600, "a node's flags win over the store")
        #expect(config.environment == .prod, "the store wins over the base")
        #expect(config.lifetimes.refreshTokenExpiresAfterSeconds == TokenLifetimes.privateOperatorDefaults.refreshTokenExpiresAfterSeconds)

        var broken = RuntimeSettings()
        broken.refreshIdentityTokenAfterSeconds = 90_000
        #expect(throws: RuntimeSettings.Invalid.self) { try broken.applied(to: OperatorConfig()) }
        var badScope = RuntimeSettings()
        badScope.identityScope = "uid3"
        #expect(throws: RuntimeSettings.Invalid.self) { try badScope.applied(to: OperatorConfig()) }
    }
}
