import ArgumentParser

/// The `duoguard` command-line tool: one binary for every job of the project.
///
/// Each job is a subcommand in a file of its own (`<Name>Command.swift`), registered here.
@main
struct DuoGuard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "duoguard",
        abstract: "Moderate text with the DuoGuard-1B classifier, from the command line or from Kafka.",
        discussion: """
            DuoGuard Worker consumes moderation requests from Kafka, micro-batches them through a \
            quantized CPU transformer computing DuoGuard-1B-Llama-3.2-transfer (12 safety \
            categories), and produces one scored result per request.
            """,
        version: BuildInfo.version,
        subcommands: [
            TokenizeCommand.self,
            ServeCommand.self,
            ConvertCommand.self,
            PackCommand.self,
            InspectCommand.self,
            ClassifyCommand.self,
            WorkerCommand.self,
            BenchCommand.self,
            ReplayCommand.self,
            OptionsCommand.self,
        ]
    )
}
