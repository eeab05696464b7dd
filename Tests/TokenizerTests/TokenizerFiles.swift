import Foundation
import XCTest

@testable import Tokenizer
import TestSupport

/// Locates and loads (once per test process) the reference tokenizer files written by
/// scripts/prepare-tokenizers.sh. Missing files fail the tests with instructions: they are
/// prerequisites, not optional extras, so a CI that forgot to prepare them must go red.
enum TokenizerFiles {
    /// Repository root: this file is Tests/TokenizerTests/TokenizerFiles.swift.
    static let repoRoot = RepositoryRoot.url

    /// Directory holding llama3/ and llama3.2/: $DUOGUARD_TOKENIZER_DIR, else
    /// Tests/Fixtures/generated.
    static var generatedDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["DUOGUARD_TOKENIZER_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        return repoRoot.appendingPathComponent("Tests/Fixtures/generated")
    }

    static func url(_ variant: String) -> URL {
        generatedDirectory.appendingPathComponent(variant).appendingPathComponent("tokenizer.json")
    }

    static let llama30: Result<Tokenizer, TokenizerError> = load("llama3")
    static let llama32: Result<Tokenizer, TokenizerError> = load("llama3.2")

    private static func load(_ variant: String) -> Result<Tokenizer, TokenizerError> {
        Result { () throws(TokenizerError) in try Tokenizer(contentsOf: url(variant)) }
    }

    /// The loaded tokenizer, or a test failure that says how to produce the file.
    static func require(_ result: Result<Tokenizer, TokenizerError>, file: StaticString = #filePath, line: UInt = #line)
        throws -> Tokenizer
    {
        switch result {
        case .success(let t):
            return t
        case .failure(let error):
            XCTFail(
                "\(error). The reference tokenizer files are missing or unreadable: run "
                    + "`bash scripts/prepare-tokenizers.sh` (writes Tests/Fixtures/generated/llama3{,.2}/tokenizer.json) "
                    + "or set DUOGUARD_TOKENIZER_DIR.", file: file, line: line)
            throw error
        }
    }

    /// Reads a fixture committed under Tests/TokenizerTests/Fixtures.
    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: repoRoot.appendingPathComponent("Tests/TokenizerTests/Fixtures").appendingPathComponent(name))
    }
}

/// One line of Fixtures/parity.jsonl (see scripts/tokenizer-fixtures.py).
struct ParityCase: Decodable {
    var text: String
    var l30: [Int32]
    var l32: [Int32]
    var t32: [Int32]
    var t32x: Bool
    var t32n: [Int32]
    var t32nx: Bool

    static let truncationLength = 16

    static func load() throws -> [ParityCase] {
        let data = try TokenizerFiles.fixture("parity.jsonl")
        let decoder = JSONDecoder()
        var cases: [ParityCase] = []
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            cases.append(try decoder.decode(ParityCase.self, from: Data(line)))
        }
        return cases
    }
}
