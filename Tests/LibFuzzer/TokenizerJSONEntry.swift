// libFuzzer entry for the tokenizer.json loader (coverage-guided; scripts/libfuzzer.sh).
// Not a SwiftPM target: compiled with the Tokenizer sources as one module by that script.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let json = Data(bytes: data, count: count)
    guard let tok = try? Tokenizer(json: json) else { return 0 }
    for text in ["hello world", "<|end_of_text|>hello<|begin_of_text|>", "1234  \n x", "é😀"] {
        let ids = tok.encode(text, maxTokens: 8).ids
        _ = tok.decode(ids, skipSpecialTokens: true)
        _ = tok.windows(text, maxTokens: 3, overlap: 1)
    }
    _ = (tok.bosTokenID, tok.vocabularySize, tok.tokenID("he"), tok.decode([-1, 0, 1 << 30]))
    return 0
}
