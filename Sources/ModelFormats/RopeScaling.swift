/// Llama-3 ("llama3") rotary-frequency scaling, as `transformers` computes it.
///
/// Low frequencies (wavelength above `originalContextLength / lowFreqFactor`) are divided by
/// `factor`, high ones (below `originalContextLength / highFreqFactor`) are kept, and the
/// band in between is interpolated smoothly. Llama-3.2 uses factor 32, low 1, high 4, 8192.
public struct RopeScaling: Sendable, Equatable {
    /// Only `llama3` is supported (the DuoGuard base model's scaling).
    public var type: String
    public var factor: Double
    public var lowFreqFactor: Double
    public var highFreqFactor: Double
    public var originalContextLength: Int

    public init(type: String = "llama3", factor: Double = 32, lowFreqFactor: Double = 1,
                highFreqFactor: Double = 4, originalContextLength: Int = 8192) {
        self.type = type
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalContextLength = originalContextLength
    }

    /// The divisor of each base inverse frequency (what llama.cpp stores as `rope_freqs.weight`):
    /// scaled inverse frequency = base inverse frequency / `frequencyFactor(...)`.
    func frequencyFactor(inverseFrequency: Double) -> Double {
        let wavelength = 2 * Double.pi / inverseFrequency
        let lowWavelength = Double(originalContextLength) / lowFreqFactor
        let highWavelength = Double(originalContextLength) / highFreqFactor
        if wavelength < highWavelength { return 1 }
        if wavelength > lowWavelength { return factor }
        let smooth = (Double(originalContextLength) / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
        return 1 / ((1 - smooth) / factor + smooth)
    }
}
