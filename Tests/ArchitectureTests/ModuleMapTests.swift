import Foundation
import XCTest
import TestSupport

/// The module map in docs/architecture.md is the rule for which target may import what; this
/// test holds the sources to it, so the layout the page describes is the one the code has.
/// It reads the `import` lines of every Swift file under `Sources/<target>/` (an import
/// behind `#if` counts: the map names what a target may ever use).
final class ModuleMapTests: XCTestCase {
    static let root = RepositoryRoot.url

    /// Modules of the platform, which every target may import.
    static let platform: Set<String> = ["Foundation", "FoundationNetworking", "Glibc", "Darwin", "Dispatch", "Synchronization"]

    /// The table under "## Module map": target -> the modules it may import.
    static func map() throws -> [String: Set<String>] {
        let page = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        guard let start = page.range(of: "\n## Module map\n") else { throw MapError.noSection }
        let section = page[start.upperBound...]
        let end = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
        var map: [String: Set<String>] = [:]
        for line in section[..<end].split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 5 else { throw MapError.badRow(String(line)) }
            let target = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let allowed = cells[3].split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            }.filter { !$0.isEmpty }
            guard map.updateValue(Set(allowed), forKey: target) == nil else { throw MapError.badRow("\(target) twice") }
        }
        return map
    }

    enum MapError: Error { case noSection, badRow(String) }

    /// Module names imported by one Swift file (`import X`, `@testable import X`,
    /// `import struct X.Y`, `@preconcurrency import X`...).
    static func imports(of text: String) -> Set<String> {
        var modules: Set<String> = []
        for raw in text.split(separator: "\n") {
            var words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            while let first = words.first, first.hasPrefix("@") { words.removeFirst() }
            guard words.first == "import", words.count >= 2 else { continue }
            let kinds: Set<String> = ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"]
            let path = kinds.contains(words[1]) && words.count >= 3 ? words[2] : words[1]
            modules.insert(String(path.split(separator: ".").first ?? Substring(path)))
        }
        return modules
    }

    func testTheMapParsesAndNamesEveryTarget() throws {
        let map = try Self.map()
        XCTAssertEqual(map["Tokenizer"], ["JSONScanning"])
        let targets = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources").path)
            .filter { !$0.hasPrefix(".") }
        XCTAssertGreaterThanOrEqual(targets.count, 9)
        for target in targets {
            XCTAssertNotNil(map[target], "Sources/\(target) has no row in docs/architecture.md's module map")
        }
        for target in map.keys {
            XCTAssertTrue(targets.contains(target), "the module map names \(target), which is not under Sources/")
        }
    }

    func testNoTargetImportsWhatTheMapForbids() throws {
        let map = try Self.map()
        let sources = Self.root.appendingPathComponent("Sources")
        var checked = 0
        for (target, allowed) in map {
            let folder = sources.appendingPathComponent(target)
            guard let files = FileManager.default.enumerator(atPath: folder.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                for module in Self.imports(of: text) where module != target {
                    XCTAssertTrue(
                        allowed.contains(module) || Self.platform.contains(module),
                        "Sources/\(target)/\(file) imports \(module); docs/architecture.md's module map allows \(allowed.sorted())")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 100, "too few Swift files read: is the root right?")
    }

    /// The checker itself: a forbidden import in a made-up file is seen.
    func testImportLinesAreRead() {
        let text = """
            import Foundation
            @testable import Worker
            @preconcurrency import struct NIOCore.ByteBuffer
            // import Commented
            let notAnImport = "import Quoted"
            """
        XCTAssertEqual(Self.imports(of: text), ["Foundation", "Worker", "NIOCore"])
    }
}
