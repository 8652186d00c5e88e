import ArgumentParser

struct UIDOperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uid-operator",
        abstract: "A UID2/EUID identity token operator.",
        version: OperatorVersion.current,
        subcommands: [
            ServeCommand.self, InitCommand.self, SiteCommand.self, ClientCommand.self, KeysCommand.self, KeysetCommand.self, SaltCommand.self, KeypairCommand.self,
            OptOutCommand.self, ImportCommand.self, ExportCommand.self, ConfigCommand.self, IdentityCommand.self, TokenCommand.self,
            EnvelopeCommand.self,
        ]
    )
}
