import Foundation

/// The checkout's top directory, for tests that read fixtures, scripts, docs or deploy files:
/// computed once here (this file is Tests/TestSupport/RepositoryRoot.swift) instead of by
/// counting `..` from each test file. Symlinks resolved, so a worktree under a linked path
/// still finds its own files.
public enum RepositoryRoot {
    public static let url: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `relative` (e.g. "scripts/kafka_relay.py") below the root.
    public static func path(_ relative: String) -> String {
        url.appendingPathComponent(relative).path
    }
}
