import ArgumentParser

struct UIDOperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uid-operator",
        abstract: "A UID2/EUID identity token operator.",
        subcommands: [
            ServeCommand.self, SiteCommand.self, ClientCommand.self, KeysCommand.self, SaltCommand.self, KeypairCommand.self,
            OptOutCommand.self, ImportCommand.self, ConfigCommand.self, IdentityCommand.self,
        ]
    )
}
