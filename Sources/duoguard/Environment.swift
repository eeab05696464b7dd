import ArgumentParser
import Foundation

/// `DUOGUARD_*` environment fallbacks for command-line options: a flag given on the command
/// line wins; otherwise `DUOGUARD_<NAME>` (upper case, dashes as underscores); otherwise
/// the configuration type's own default. Values parse exactly as the flag would, so a bad
/// variable fails at start naming the variable.
struct Environment: Sendable {
    let variables: [String: String]

    /// The process environment (worker, replay).
    static var process: Environment { Environment(variables: ProcessInfo.processInfo.environment) }
    /// No fallbacks (one-shot tools such as classify).
    static let none = Environment(variables: [:])

    /// The flag, or else `DUOGUARD_<name>` parsed as `T`.
    func value<T: ExpressibleByArgument>(_ flag: T?, _ name: String) throws -> T? {
        if let flag { return flag }
        guard let text = variables["DUOGUARD_\(name)"] else { return nil }
        guard let parsed = T(argument: text) else { throw ValidationError("DUOGUARD_\(name)='\(text)' is not a valid value") }
        return parsed
    }

    /// The flag, or else `DUOGUARD_<name>`, which must be set and non-empty.
    func required(_ flag: String?, _ name: String, _ option: String) throws -> String {
        guard let result = try value(flag, name), !result.isEmpty else {
            throw ValidationError("missing \(option) (or DUOGUARD_\(name))")
        }
        return result
    }

    /// Repeated flags, or else the comma-separated `DUOGUARD_<name>`.
    func list(_ flags: [String], _ name: String) -> [String] {
        if !flags.isEmpty { return flags }
        return variables["DUOGUARD_\(name)"].map { $0.split(separator: ",").map(String.init) } ?? []
    }

    /// A boolean flag, or `DUOGUARD_<name>=1|true`.
    func flag(_ flag: Bool, _ name: String) -> Bool {
        flag || ["1", "true"].contains(variables["DUOGUARD_\(name)"]?.lowercased() ?? "")
    }

    /// Milliseconds from a flag or variable, as a `Duration` (`nil`: keep the default).
    func milliseconds(_ flag: Int?, _ name: String) throws -> Duration? {
        try value(flag, name).map { .milliseconds($0) }
    }
}
