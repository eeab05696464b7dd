import SwiftProtobuf

/// Turns Kafka message values into requests and results into values, in either encoding.
///
/// This is the only place that knows how the protocol maps onto bytes, so the worker never
/// touches swift-protobuf's error types or options directly: every decoding failure comes
/// out as a `ModerationDecodeError` whose `code` goes into the dead-letter headers.
public enum ModerationCodec {
    /// Decoding tolerates fields it does not know, in both encodings, so that producers can
    /// adopt a newer schema before the workers do (proto3 binary does this by nature; the
    /// JSON mapping rejects unknown names unless asked not to).
    static let jsonDecodingOptions: JSONDecodingOptions = {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        return options
    }()

    /// Map fields (`metadata`) are written in key order, so that re-scoring the same request
    /// yields the same bytes, which makes replays and duplicate results easy to compare.
    static let jsonEncodingOptions: JSONEncodingOptions = {
        var options = JSONEncodingOptions()
        options.useDeterministicOrdering = true
        return options
    }()

    /// See `jsonEncodingOptions`: the same key ordering for the binary encoding.
    static let binaryEncodingOptions: BinaryEncodingOptions = {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        return options
    }()

    // MARK: Requests

    /// Decodes a request value in the given encoding. Does not validate the content: call
    /// `validate(_:maxTextBytes:)` next, after reading the id, so that an invalid request can
    /// still be answered under its id.
    ///
    /// For JSON the raw bytes are checked for UTF-8 first, because the JSON scanner's
    /// reaction to bad bytes varies with where they are; for protobuf, swift-protobuf checks
    /// every string field and its verdict is mapped to `.invalidUTF8`.
    public static func decodeRequest(
        _ bytes: [UInt8],
        contentType: ContentType
    ) throws(ModerationDecodeError) -> ModerationRequest {
        try decode(ModerationRequest.self, from: bytes, contentType: contentType)
    }

    /// Checks what decoding cannot: a request must have text to classify, and at most
    /// `maxTextBytes` UTF-8 bytes of it (the worker's memory and latency bound; the model
    /// truncates at 512 tokens anyway, but tokenizing megabytes is itself a cost); a
    /// threshold, when set, must be strictly between 0 and 1.
    public static func validate(
        _ request: ModerationRequest,
        maxTextBytes: Int,
        metadata limits: MetadataLimits = MetadataLimits()
    ) throws(ModerationDecodeError) {
        let bytes = request.text.utf8.count
        if bytes == 0 { throw .missingText }
        if bytes > maxTextBytes { throw .textTooLong(bytes: bytes, limit: maxTextBytes) }
        if let problem = limits.problem(with: request.metadata) { throw .metadataTooLarge(problem) }
        if request.hasThreshold, !(request.threshold > 0 && request.threshold < 1) {
            throw .invalidThreshold(request.threshold)
        }
    }

    /// The id a result is published under: the request's own id, or, when it has none,
    /// `<topic>/<partition>/<offset>`, which is unique in the cluster and lets the producer
    /// find its request again.
    public static func requestID(
        of request: ModerationRequest,
        topic: String,
        partition: Int32,
        offset: Int64
    ) -> String {
        request.id.isEmpty ? "\(topic)/\(partition)/\(offset)" : request.id
    }

    /// Encodes a request value: what producers, tests and the command-line tool send.
    public static func encodeRequest(
        _ request: ModerationRequest,
        contentType: ContentType
    ) throws(ModerationEncodeError) -> [UInt8] {
        try encode(request, contentType: contentType)
    }

    // MARK: Results

    /// Encodes a result with the request's encoding: protobuf binary, or the proto3 JSON
    /// mapping (lowerCamelCase names, enums by name, fields at their default value omitted,
    /// so `"unsafe": false` does not appear).
    public static func encodeResult(
        _ result: ModerationResult,
        contentType: ContentType
    ) throws(ModerationEncodeError) -> [UInt8] {
        try encode(result, contentType: contentType)
    }

    /// Decodes a result value: what consumers of the output topic and the tests do.
    public static func decodeResult(
        _ bytes: [UInt8],
        contentType: ContentType
    ) throws(ModerationDecodeError) -> ModerationResult {
        try decode(ModerationResult.self, from: bytes, contentType: contentType)
    }

    // MARK: Shared

    static func decode<M: SwiftProtobuf.Message>(
        _ type: M.Type,
        from bytes: [UInt8],
        contentType: ContentType
    ) throws(ModerationDecodeError) -> M {
        switch contentType {
        case .protobuf:
            do {
                return try M(serializedBytes: bytes)
            } catch BinaryDecodingError.invalidUTF8 {
                throw .invalidUTF8
            } catch {
                throw .undecodable(String(describing: error))
            }
        case .json:
            guard String(validating: bytes, as: UTF8.self) != nil else { throw .invalidUTF8 }
            do {
                return try M(jsonUTF8Bytes: bytes, options: jsonDecodingOptions)
            } catch JSONDecodingError.invalidUTF8 {
                throw .invalidUTF8
            } catch {
                // A `\ud800` escape without its pair is valid JSON syntax but names no
                // Unicode scalar, so the text cannot be UTF-8; the scanner calls it a
                // malformed string, which would hide that the cause is the encoding.
                if containsLoneSurrogateEscape(bytes) { throw .invalidUTF8 }
                throw .undecodable(String(describing: error))
            }
        }
    }

    /// Whether the JSON text has a `\uD800`–`\uDFFF` escape that is not part of a
    /// high-then-low surrogate pair. Only called after decoding failed, so it costs nothing
    /// on the normal path. Escaped backslashes (`\\ud800`) are skipped, not mistaken for one.
    static func containsLoneSurrogateEscape(_ bytes: [UInt8]) -> Bool {
        func escapedUnit(at index: Int) -> UInt16? {
            guard index + 5 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                  bytes[index + 1] == UInt8(ascii: "u") else { return nil }
            var unit: UInt16 = 0
            for byte in bytes[(index + 2)...(index + 5)] {
                guard let digit = hexValue(byte) else { return nil }
                unit = unit << 4 | UInt16(digit)
            }
            return unit
        }
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "\\") else { index += 1; continue }
            guard let unit = escapedUnit(at: index) else { index += 2; continue }
            switch unit {
            case 0xD800...0xDBFF:
                guard let low = escapedUnit(at: index + 6), (0xDC00...0xDFFF).contains(low) else { return true }
                index += 12
            case 0xDC00...0xDFFF:
                return true
            default:
                index += 6
            }
        }
        return false
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func encode(
        _ message: some SwiftProtobuf.Message,
        contentType: ContentType
    ) throws(ModerationEncodeError) -> [UInt8] {
        do {
            switch contentType {
            case .protobuf: return try message.serializedBytes(options: binaryEncodingOptions)
            case .json: return try message.jsonUTF8Bytes(options: jsonEncodingOptions)
            }
        } catch {
            throw .unencodable(String(describing: error))
        }
    }
}
