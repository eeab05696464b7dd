/// The model description and file types (`ModelConfig`, `ModelFileError`, `TensorType`,
/// `HuggingFaceModelDirectory`, `ModelConverter`...) are part of the runtime's API —
/// `DuoGuardModel.load` takes a file or a directory and `config` is a `ModelConfig` — so users
/// of `Inference` get them without importing `ModelFormats`, the target that reads and writes
/// the files and knows nothing of the forward pass.
@_exported import ModelFormats
