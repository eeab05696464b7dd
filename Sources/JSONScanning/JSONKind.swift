/// The six kinds of JSON value (RFC 8259 section 3): what `JSONReader.skipValue()` reports
/// for a value it validated without decoding, so a caller can tell "a number where a string
/// belongs" apart without building the value.
public enum JSONKind: Sendable, Equatable {
    case object, array, string, number, bool, null
}
