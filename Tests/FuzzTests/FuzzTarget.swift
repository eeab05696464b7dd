/// One thing to fuzz: a function over bytes and the valid inputs it starts from.
///
/// To add a decoder, write its seeds (a few valid inputs of different shapes) and a body that
/// feeds the bytes to it and returns whether they were accepted. The body must not catch
/// traps, it cannot: a trap, an over-allocation or a hang in it ends the test process, which
/// is the failure the harness exists to find. A violated invariant is thrown instead (the
/// harness saves the input and fails the test).
struct FuzzTarget {
    /// Short, file-name safe ("gguf", "request-json"): names the crash file and the report.
    var name: String
    /// Valid inputs; each runs unmutated first, and they are the starting corpus.
    var seeds: [[UInt8]]
    /// Tokens of the input language for the dictionary mutation.
    var dictionary: [[UInt8]] = []
    /// Mutated inputs are cut to this length.
    var maxLength = 1 << 16
    /// Runs one input; true when it was accepted (decoded, loaded...). Accepted mutants join
    /// the corpus, so later cases start from inputs that get past the first checks.
    var body: ([UInt8]) throws -> Bool
}

/// An invariant a fuzz body checks, violated by the current input.
struct FuzzInvariantViolation: Error, CustomStringConvertible {
    var description: String
}
