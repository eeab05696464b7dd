import Foundation
import JSONScanning

/// A Hugging Face model directory laid out as the published checkpoint: `config.json`,
/// `model.safetensors` (or shards listed by `model.safetensors.index.json`) in bf16, f16
/// or f32, and `tokenizer.json`.
public struct HuggingFaceModelDirectory: Sendable {
    public let path: String
    public let config: ModelConfig
    /// The model's name for metadata: the directory's last component.
    public var name: String { URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent }
    let shards: [SafeTensorsFile]
    private let tensorShard: [String: Int]

    /// Opens the directory and maps its safetensors files.
    public init(path: String) throws(ModelFileError) {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: path)
        }
        guard isDirectory.boolValue else { throw .unreadable(path: path, reason: "not a model directory") }
        let directory = URL(fileURLWithPath: path)
        let configPath = directory.appendingPathComponent("config.json").path
        guard let configData = try Self.readSmallFile(configPath, isConfig: true) else { throw .fileNotFound(path: configPath) }
        config = try ModelConfig(huggingFaceConfig: configData, path: configPath)

        let indexPath = directory.appendingPathComponent("model.safetensors.index.json").path
        var files: [String]
        if let indexData = try Self.readSmallFile(indexPath, isConfig: false) {
            guard let map = (try? JSONValue(parsing: [UInt8](indexData)))?["weight_map"]?.object,
                  case let shards = map.values.compactMap(\.string), shards.count == map.count
            else { throw .corrupt(path: indexPath, detail: "no weight_map object") }
            files = Array(Set(shards)).sorted()
            // Shards are files of this directory, nothing else: no paths, no "..".
            for file in files where file.isEmpty || file == "." || file == ".." || file.contains("/") || file.contains("\0") {
                throw .corrupt(path: indexPath, detail: "weight_map names \(file.debugDescription), not a file name in the model directory")
            }
        } else if FileManager.default.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path) {
            files = ["model.safetensors"]
        } else {
            let listing = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = listing.filter { $0.hasSuffix(".safetensors") }.sorted()
            guard !files.isEmpty else {
                throw .fileNotFound(path: directory.appendingPathComponent("model.safetensors").path)
            }
        }
        var shards: [SafeTensorsFile] = []
        var tensorShard: [String: Int] = [:]
        for file in files {
            let shard = try SafeTensorsFile(path: directory.appendingPathComponent(file).path)
            for name in shard.entries.keys { tensorShard[name] = shards.count }
            shards.append(shard)
        }
        self.shards = shards
        self.tensorShard = tensorShard
    }

    /// The most bytes read from `config.json` or `model.safetensors.index.json`: real ones
    /// are a few kB (an index of thousands of tensors ~100 kB).
    static let maxSmallFileBytes = 16 << 20

    /// The whole file, or nil when it does not exist; refuses files over `maxSmallFileBytes`
    /// (as `.badConfig` for config.json, else `.corrupt`) without reading them whole.
    static func readSmallFile(_ path: String, isConfig: Bool) throws(ModelFileError) -> Data? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxSmallFileBytes + 1) ?? Data()
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        guard data.count <= maxSmallFileBytes else {
            let reason = "larger than \(maxSmallFileBytes) bytes; a real one is a few kB"
            if isConfig { throw .badConfig(path: path, detail: reason) }
            throw .corrupt(path: path, detail: reason)
        }
        return data
    }

    /// Path of the directory's `tokenizer.json` (it may not exist).
    public var tokenizerPath: String { URL(fileURLWithPath: path).appendingPathComponent("tokenizer.json").path }

    func shape(_ name: String) -> [Int]? {
        guard let index = tensorShard[name] else { return nil }
        return shards[index].entries[name]?.shape
    }

    /// The tensor in f32, checked against the expected shape.
    func floats(_ name: String, shape expected: [Int]) throws(ModelFileError) -> [Float] {
        guard let index = tensorShard[name] else { throw .missingTensor(name) }
        let found = shards[index].entries[name]?.shape ?? []
        guard found == expected else { throw .shapeMismatch(tensor: name, expected: expected, found: found) }
        return try shards[index].floats(name)
    }
}
