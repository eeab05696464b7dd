import ArgumentParser

/// `duoguard options`: the worker's options as declared once in `OptionTable` — flag,
/// environment variable, default, help (tab-separated). `--markdown` prints docs/operations.md's table
/// (regenerate it with `duoguard options --markdown` after adding an option; a test compares).
struct OptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "options",
        abstract: "List the worker's options, their DUOGUARD_* variables and defaults.")

    @Flag(name: .long, help: "Print the Markdown table of docs/operations.md.")
    var markdown = false
    @Option(name: .long, help: "Whose options: worker or serve (default worker).")
    var command = "worker"

    func validate() throws {
        guard ["worker", "serve"].contains(command) else { throw ValidationError("--command is worker or serve") }
    }

    func run() {
        let entries = command == "serve" ? OptionTable.serveEntries : OptionTable.entries
        if markdown {
            print(OptionTable.markdown(entries), terminator: "")
            return
        }
        for entry in entries {
            let variable = entry.environmentVariable ?? "-"
            print("\(entry.flag)\t\(variable)\t\(entry.defaultText ?? "-")\t\(entry.help)")
        }
    }
}
