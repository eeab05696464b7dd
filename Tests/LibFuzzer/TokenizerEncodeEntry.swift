// libFuzzer entry for encoding request bytes with the real Llama-3.2 tokenizer
// ($DUOGUARD_TOKENIZER_JSON), checking decode(encode(x)) == x (scripts/libfuzzer.sh).
import Foundation

private let tokenizer: Tokenizer = {
    let path = ProcessInfo.processInfo.environment["DUOGUARD_TOKENIZER_JSON"] ?? "Tests/Fixtures/generated/llama3.2/tokenizer.json"
    do {
        return try Tokenizer(contentsOf: URL(fileURLWithPath: path))
    } catch {
        fatalError("cannot load \(path): \(error)")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerEncode(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: count)
    guard let all = try? tokenizer.encode(utf8: bytes, addSpecialTokens: false) else { return 0 }
    let back = tokenizer.decode(all.ids)
    if !back.utf8.elementsEqual(bytes) { fatalError("decode(encode(x)) != x for \(count) bytes") }
    let truncated = tokenizer.encode(String(decoding: bytes, as: UTF8.self), maxTokens: 16)
    if truncated.ids.count > 16 { fatalError("truncation to 16 gave \(truncated.ids.count) ids") }
    for window in tokenizer.windows(String(decoding: bytes, as: UTF8.self), maxTokens: 16, overlap: 4) where window.ids.count > 16 {
        fatalError("window of \(window.ids.count) ids")
    }
    return 0
}
