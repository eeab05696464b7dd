/// The Confluent Schema Registry wire format around a record value.
///
/// Confluent's serializers (Java, Go, Python, .NET, all of them) prefix every value with
///
///     0x00                 magic byte
///     4 bytes big-endian   schema id (the registry's global id of the writer's schema)
///     message indexes      protobuf only: which message of the schema file this is
///     payload              the plain protobuf binary or JSON bytes
///
/// The message-index list is a count and then that many indexes, each a zigzag varint;
/// the path `[0]` (the first top-level message, by far the most common) is abbreviated to
/// the single byte 0x00 (count 0). JSON Schema framing has no index list.
///
/// A value starting with 0x00 cannot be anything else this protocol accepts: a protobuf
/// message never starts with a zero byte (field number 0 is invalid) and JSON never does
/// either, so the magic byte alone tells a framed value from a bare one, whatever the
/// `content-type` header says; the content type then says whether an index list follows.
public struct SchemaRegistryFrame: Sendable, Hashable {
    /// The magic byte of the format (Confluent's "V0" framing, an integer schema id).
    public static let magicByte: UInt8 = 0x00

    /// Header bytes before the index list: magic byte + schema id.
    static let headerSize = 5

    /// The longest index path accepted. protoc itself allows nesting 100 levels deep, and
    /// Confluent's Python deserializer accepts lists up to 100,000 long; a path to a real
    /// message is a handful of levels, so anything longer is taken as an attack on memory.
    public static let maxMessageIndexes = 100

    /// The registry's schema id.
    public var schemaID: UInt32
    /// The protobuf message-index path (`[0]` for the first message of the schema file),
    /// nil for JSON Schema framing, which has none.
    public var messageIndexes: [Int32]?

    public init(schemaID: UInt32, messageIndexes: [Int32]?) {
        self.schemaID = schemaID
        self.messageIndexes = messageIndexes
    }

    /// Whether `value` is framed (starts with the magic byte).
    public static func isFramed(_ value: [UInt8]) -> Bool {
        value.first == magicByte
    }

    /// Reads the frame at the start of a framed value: the frame and the index of the first
    /// payload byte. `contentType` says whether a protobuf index list follows the header.
    ///
    /// Every length is checked before use: a truncated header or list, a varint longer than
    /// five bytes or beyond 32 bits, a negative count or index, or a count longer than
    /// `maxMessageIndexes` or than the bytes that remain, is `.schemaRegistryFraming`.
    public static func parse(
        _ value: [UInt8],
        contentType: ContentType
    ) throws(ModerationDecodeError) -> (frame: SchemaRegistryFrame, payloadStart: Int) {
        guard value.first == magicByte else {
            throw .schemaRegistryFraming("magic byte is \(value.first.map { "0x" + String($0, radix: 16) } ?? "absent"), not 0x00")
        }
        guard value.count >= headerSize else {
            throw .schemaRegistryFraming("\(value.count) bytes, shorter than the 5-byte header (magic byte, schema id)")
        }
        let schemaID = UInt32(value[1]) << 24 | UInt32(value[2]) << 16 | UInt32(value[3]) << 8 | UInt32(value[4])
        guard contentType == .protobuf else {
            return (SchemaRegistryFrame(schemaID: schemaID, messageIndexes: nil), headerSize)
        }
        var position = headerSize
        let count = try readZigZag(value, at: &position, what: "message-index count")
        if count < 0 {
            throw .schemaRegistryFraming(
                "message-index count \(count) is negative" + (value[headerSize] == UInt8(ascii: "{")
                    ? " (a JSON Schema frame read as protobuf? set content-type or the default content type to JSON)" : ""))
        }
        if count == 0 {
            return (SchemaRegistryFrame(schemaID: schemaID, messageIndexes: [0]), position)
        }
        guard count <= maxMessageIndexes else {
            throw .schemaRegistryFraming("message-index count \(count) is over the limit of \(maxMessageIndexes)")
        }
        guard Int(count) <= value.count - position else {
            throw .schemaRegistryFraming("message-index count \(count) is more than the \(value.count - position) bytes that follow")
        }
        var indexes: [Int32] = []
        indexes.reserveCapacity(Int(count))
        for _ in 0..<count {
            let index = try readZigZag(value, at: &position, what: "message index")
            guard index >= 0 else { throw .schemaRegistryFraming("message index \(index) is negative") }
            indexes.append(index)
        }
        return (SchemaRegistryFrame(schemaID: schemaID, messageIndexes: indexes), position)
    }

    /// The frame's bytes, to put before a payload: what Confluent's serializers write (the
    /// index path `[0]` as the single byte 0x00).
    public var bytes: [UInt8] {
        var out: [UInt8] = [
            Self.magicByte, UInt8(truncatingIfNeeded: schemaID >> 24), UInt8(truncatingIfNeeded: schemaID >> 16),
            UInt8(truncatingIfNeeded: schemaID >> 8), UInt8(truncatingIfNeeded: schemaID),
        ]
        if let messageIndexes {
            if messageIndexes.isEmpty || messageIndexes == [0] {
                out.append(0)
            } else {
                Self.appendZigZag(Int32(clamping: messageIndexes.count), to: &out)
                for index in messageIndexes { Self.appendZigZag(index, to: &out) }
            }
        }
        return out
    }

    /// `payload` with this frame in front.
    public func framing(_ payload: [UInt8]) -> [UInt8] {
        var out = bytes
        out.append(contentsOf: payload)
        return out
    }

    // MARK: Varints

    /// A zigzag-encoded 32-bit varint, as Confluent's Java `ByteUtils.readVarint`: at most five
    /// bytes, and the fifth may only carry the top four bits.
    static func readZigZag(_ bytes: [UInt8], at position: inout Int, what: String) throws(ModerationDecodeError) -> Int32 {
        var raw: UInt32 = 0
        for shift in stride(from: UInt32(0), through: 28, by: 7) {
            guard position < bytes.count else {
                throw .schemaRegistryFraming("\(what) is cut off at byte \(position)")
            }
            let byte = bytes[position]
            position += 1
            if shift == 28, byte > 0x0F {
                throw .schemaRegistryFraming("\(what) at byte \(position - 1) does not fit in 32 bits")
            }
            raw |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
            }
        }
        throw .schemaRegistryFraming("\(what) at byte \(position - 5) does not fit in 32 bits")
    }

    static func appendZigZag(_ value: Int32, to out: inout [UInt8]) {
        var raw = UInt32(bitPattern: (value << 1) ^ (value >> 31))
        while raw >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: raw) | 0x80)
            raw >>= 7
        }
        out.append(UInt8(raw))
    }
}
