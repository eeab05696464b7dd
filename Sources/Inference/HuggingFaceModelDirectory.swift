import Foundation

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
        guard let configData = FileManager.default.contents(atPath: configPath) else {
            throw .fileNotFound(path: configPath)
        }
        config = try ModelConfig(huggingFaceConfig: configData, path: configPath)

        let indexPath = directory.appendingPathComponent("model.safetensors.index.json").path
        var files: [String]
        if let indexData = FileManager.default.contents(atPath: indexPath) {
            guard let object = try? JSONSerialization.jsonObject(with: indexData),
                  let json = object as? [String: Any], let map = json["weight_map"] as? [String: String]
            else { throw .corrupt(path: indexPath, detail: "no weight_map object") }
            files = Array(Set(map.values)).sorted()
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
