import ArgumentParser
import Foundation
import Inference

/// `duoguard inspect`: what a GGUF file holds (metadata, tensor table), without running it.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the metadata and tensor table of a GGUF file."
    )

    @Argument(help: "The GGUF file.")
    var file: String

    @Flag(name: .long, help: "Recompute the SHA-256 of the tensor data and compare it with duoguard.content_hash.")
    var verify = false

    func run() throws {
        let gguf = try GGUFFile(path: file)
        print("GGUF v\(gguf.version), \(gguf.metadata.count) metadata keys, \(gguf.tensors.count) tensors, alignment \(gguf.alignment)")
        print("\nmetadata:")
        let width = gguf.metadata.map(\.key.count).max() ?? 0
        for (key, value) in gguf.metadata {
            let shown: String
            if case .string(let s) = value, s.count > 120 {
                shown = "<\(s.utf8.count) bytes of text>"
            } else {
                shown = value.description
            }
            print("  \(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(shown)")
        }
        print("\ntensors:")
        let nameWidth = gguf.tensors.map(\.name.count).max() ?? 0
        var total = 0
        for t in gguf.tensors {
            let dims = t.dimensions.map(String.init).joined(separator: " x ")
            print("  \(t.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0))  \(t.type.description.padding(toLength: 5, withPad: " ", startingAt: 0))  \(dims.padding(toLength: 14, withPad: " ", startingAt: 0))  \(t.byteCount) bytes @ \(t.fileOffset)")
            total += t.byteCount
        }
        print("  total \(total) bytes of tensor data")
        if verify {
            let stored = gguf["duoguard.content_hash"]?.stringValue ?? "(none)"
            let computed = gguf.computeContentHash()
            if computed == stored {
                print("\ncontent hash verified: \(computed)")
            } else {
                throw ModelFileError.contentHashMismatch(expected: stored, found: computed)
            }
        }
    }
}
