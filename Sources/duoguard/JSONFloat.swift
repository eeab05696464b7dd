/// A `Float` that encodes as a JSON number, or `null` when not finite (JSON has no NaN).
/// (Named apart from the readers' numbers: this one only writes.)
struct JSONFloat: Encodable {
    let value: Float
    init(_ value: Float) { self.value = value }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if value.isFinite { try container.encode(value) } else { try container.encodeNil() }
    }
}
