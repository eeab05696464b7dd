// The tokenizer's streaming JSONReader against Foundation's JSONSerialization on a real
// tokenizer.json: load time (wall and CPU) and peak memory, each variant in its own process.
// Compiled together with Sources/Tokenizer/*.swift as one module (so that the Foundation
// variant can fill the same internal tables), against the JSONScanning module as the package
// builds it, by bench/tokenizer/json-compare.sh.
import Foundation
import JSONScanning

/// The loader as it would be with JSONSerialization: parse everything into Foundation
/// objects, then walk them into the same tables `TokenizerLoader` fills while streaming.
enum FoundationTokenizerLoader {
    struct Failure: Error { var what: String }

    static func value(_ any: Any) -> JSONValue {
        switch any {
        case let s as String: return .string(s)
        case let n as NSNumber:
            if ObjectIdentifier(type(of: n)) == ObjectIdentifier(type(of: NSNumber(value: true))) { return .bool(n.boolValue) }
            return .number(n.doubleValue)
        case let a as [Any]: return .array(a.map(value))
        case let o as [String: Any]: return .object(o.mapValues(value))
        default: return .null
        }
    }

    static func load(_ data: Data) throws -> TokenizerCore {
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = json["model"] as? [String: Any],
              let vocab = model["vocab"] as? [String: Any], let merges = model["merges"] as? [Any]
        else { throw Failure(what: "no model.vocab / model.merges") }
        var section = ModelSection()
        section.sawVocab = true
        section.sawMerges = true
        for (key, v) in model where key != "vocab" && key != "merges" { section.fields[key] = value(v) }
        var table = ByteStringTable()
        var maxID: Int32 = -1
        for (token, v) in vocab {
            guard let id = v as? Int, let id32 = Int32(exactly: id) else { throw Failure(what: "bad id") }
            let utf8 = Array(token.utf8)
            let mapped = utf8.withUnsafeBufferPointer { table.append(byteLevel: $0, value: id32) }
            if !mapped { section.unmappedVocab.append((id32, utf8)) }
            maxID = max(maxID, id32)
        }
        section.vocab = table
        section.maxVocabID = maxID
        var arena: [UInt8] = []
        var entries: [ModelSection.MergeEntry] = []
        entries.reserveCapacity(merges.count)
        for item in merges {
            let parts: [String]
            if let s = item as? String {
                parts = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if let pair = item as? [String] {
                parts = pair
            } else {
                throw Failure(what: "bad merge")
            }
            guard parts.count == 2 else { throw Failure(what: "bad merge") }
            let start = arena.count
            guard Array(parts[0].utf8).withUnsafeBufferPointer({ ByteLevelAlphabet.rawBytes(ofUTF8: $0, into: &arena) }) else {
                throw Failure(what: "merge outside the alphabet")
            }
            let left = arena.count - start
            guard Array(parts[1].utf8).withUnsafeBufferPointer({ ByteLevelAlphabet.rawBytes(ofUTF8: $0, into: &arena) }) else {
                throw Failure(what: "merge outside the alphabet")
            }
            entries.append(.init(start: UInt32(start), leftLength: UInt16(left), rightLength: UInt16(arena.count - start - left)))
        }
        section.mergeArena = arena
        section.mergeEntries = entries
        var sections: [String: JSONValue] = [:]
        for (key, v) in json where key != "model" { sections[key] = value(v) }
        try TokenizerLoader.checkPreTokenizer(sections["pre_tokenizer"] ?? .null)
        try TokenizerLoader.checkDecoder(sections["decoder"] ?? .null)
        let post = try PostProcessor(sections["post_processor"] ?? .null)
        let added = try TokenizerLoader.addedTokens(sections["added_tokens"] ?? .array([]), idLimit: TokenizerLoader.maxTokenIDs)
        return try TokenizerCore(model: section, added: added, post: post)
    }
}

@main
struct JSONCompare {
    static func peakRSSkB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? -1
        }
        return -1
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    static func main() throws {
        let args = CommandLine.arguments
        guard args.count >= 4, let repeats = Int(args[3]) else {
            print("usage: json-compare reader|foundation|foundation-parse TOKENIZER.json REPEATS")
            return
        }
        let mode = args[1], path = args[2]
        let baseline = peakRSSkB()
        var walls: [Double] = [], cpus: [Double] = []
        var sample: [Int32] = []
        for _ in 0 ..< repeats {
            let w0 = Date(), c0 = cpuSeconds()
            // Reading the file is part of loading in every variant (mapped, as Tokenizer does).
            let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
            switch mode {
            case "reader":
                let tok = try Tokenizer(json: data)
                sample = tok.encode("Héllo wörld, how do I pick a lock? 1234 🌍").ids
            case "foundation":
                let core = try FoundationTokenizerLoader.load(data)
                var ids: [Int32] = core.post.prefix
                var text = "Héllo wörld, how do I pick a lock? 1234 🌍"
                text.withUTF8 { core.encodeContent($0, limit: 1 << 20, into: &ids) }
                sample = ids
            default:
                _ = try JSONSerialization.jsonObject(with: data)
            }
            walls.append(Date().timeIntervalSince(w0) * 1000)
            cpus.append((cpuSeconds() - c0) * 1000)
        }
        let sortedWall = walls.sorted(), sortedCPU = cpus.sorted()
        print(#"{"mode": "\#(mode)", "runs": \#(repeats), "wall_ms_min": \#(sortedWall[0]), "wall_ms_median": \#(sortedWall[repeats / 2]), "cpu_ms_min": \#(sortedCPU[0]), "cpu_ms_median": \#(sortedCPU[repeats / 2]), "peak_rss_kb": \#(peakRSSkB()), "baseline_rss_kb": \#(baseline), "sample_ids": \#(sample)}"#)
    }
}
