extension ModelConfig {
    /// Reads the hyperparameters from our GGUF metadata (llama.cpp keys + `duoguard.*`).
    package init(gguf file: GGUFFile) throws(ModelFileError) {
        func value(_ key: String) throws(ModelFileError) -> GGUFValue {
            guard let v = file[key] else { throw .missingMetadata(key: key) }
            return v
        }
        func int(_ key: String) throws(ModelFileError) -> Int {
            guard let v = try value(key).intValue, v >= 0 else { throw .invalidMetadata(key: key, detail: "expected a non-negative integer") }
            return v
        }
        /// A token id exactly (no clamping: 2^32 + 5 is not token 5, nor token Int32.max).
        func tokenID(_ key: String, what: String) throws(ModelFileError) -> Int32? {
            guard let v = file[key] else { return nil }
            guard let id = v.intValue.flatMap({ Int32(exactly: $0) }), id >= 0 else {
                throw .invalidMetadata(key: key, detail: "\(what) token id \(v) is outside 0...\(Int32.max)")
            }
            return id
        }
        func number(_ key: String) throws(ModelFileError) -> Double {
            guard let v = try value(key).doubleValue else { throw .invalidMetadata(key: key, detail: "expected a number") }
            return v
        }
        guard let arch = file[GGUFNames.architecture]?.stringValue else { throw .missingMetadata(key: GGUFNames.architecture) }
        guard arch == "llama" else { throw .unsupportedArchitecture(arch) }
        guard file[GGUFNames.labelCount] != nil, file.tensor(GGUFNames.classifier) != nil else {
            throw .unsupportedArchitecture("llama without a DuoGuard classification head (\(GGUFNames.labelCount), \(GGUFNames.classifier))")
        }
        var c = ModelConfig()
        c.vocabSize = try int(GGUFNames.vocabSize)
        c.hiddenSize = try int(GGUFNames.embeddingLength)
        c.intermediateSize = try int(GGUFNames.feedForwardLength)
        c.layerCount = try int(GGUFNames.blockCount)
        c.headCount = try int(GGUFNames.headCount)
        c.kvHeadCount = try int(GGUFNames.headCountKV)
        c.headDim = file[GGUFNames.keyLength] != nil ? try int(GGUFNames.keyLength) : c.hiddenSize / max(1, c.headCount)
        c.rmsNormEps = Float(try number(GGUFNames.rmsEpsilon))
        c.ropeTheta = try number(GGUFNames.ropeFreqBase)
        c.contextLength = try int(GGUFNames.contextLength)
        guard let pad = try tokenID(GGUFNames.padTokenID, what: "pad") else { throw .missingMetadata(key: GGUFNames.padTokenID) }
        c.padTokenID = pad
        c.bosTokenID = try tokenID(GGUFNames.bosID, what: "bos")
        c.eosTokenID = try tokenID(GGUFNames.eosID, what: "eos")
        c.labelCount = try int(GGUFNames.labelCount)
        c.maxTokens = try int(GGUFNames.maxTokens)
        c.threshold = Float(try number(GGUFNames.threshold))
        guard let names = try value(GGUFNames.categories).arrayValue?.compactMap(\.stringValue) else {
            throw .invalidMetadata(key: GGUFNames.categories, detail: "expected an array of strings")
        }
        c.categoryNames = names
        let scalingType = file[GGUFNames.ropeScalingType]?.stringValue ?? "none"
        if scalingType == "none" {
            c.ropeScaling = nil
        } else {
            c.ropeScaling = RopeScaling(
                type: scalingType,
                factor: try number(GGUFNames.ropeScalingFactor),
                lowFreqFactor: try number(GGUFNames.ropeLowFreqFactor),
                highFreqFactor: try number(GGUFNames.ropeHighFreqFactor),
                originalContextLength: try int(GGUFNames.ropeOriginalContext)
            )
        }
        // Before any product of these numbers is formed (qDim, kvDim, table sizes).
        do {
            try c.validate(source: file.path)
        } catch {
            if case .badConfig(_, let detail) = error { throw .invalidMetadata(key: "(hyperparameters)", detail: detail) }
            throw error
        }
        self = c
    }
}
