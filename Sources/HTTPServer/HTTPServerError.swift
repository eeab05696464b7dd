/// Why an HTTP server did not start (bad host or port, port in use, invalid configuration):
/// a sentence naming the server, for the caller to wrap into its own error.
public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
