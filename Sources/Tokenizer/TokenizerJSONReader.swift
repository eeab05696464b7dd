import JSONScanning

/// The shared JSON reader, throwing the loader's own error: a syntax error in tokenizer.json
/// is `TokenizerError.malformed("<what> at byte <n>")`, as the loader's other checks are.
typealias TokenizerJSONReader = JSONReader<TokenizerError>

extension TokenizerError: JSONSyntaxFailure {
    public static func jsonSyntax(_ detail: String, at offset: Int) -> TokenizerError {
        .malformed("\(detail) at byte \(offset)")
    }
}
