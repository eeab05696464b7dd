/// Version of the `duoguard` binary, printed by `duoguard --version` and reported in results.
enum BuildInfo {
    static let version = "0.1.0"
}
