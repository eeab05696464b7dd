/// How DuoGuard's 12 categories appear in OpenAI-shaped moderation results.
///
/// Every result carries all 12 under their own snake_case names (`violent_crimes`,
/// `non_violent_crimes`, ... `jailbreak_prompts`), plus the OpenAI names where a DuoGuard
/// category corresponds: `illicit/violent` (Violent crimes, Indiscriminate weapons),
/// `illicit` (Non-violent crimes), `sexual/minors` (Child sexual exploitation), `hate`
/// (Hate), `self-harm` (Suicide and self-harm), `sexual` (Sexual content). An OpenAI name
/// fed by two categories scores their maximum and is flagged when either is. OpenAI
/// categories DuoGuard does not score (`harassment`, `violence`, the `*/threatening`,
/// `*/intent`, `*/instructions`, `violence/graphic`) are absent rather than reported as a
/// made-up 0. `hate` is both names at once (same meaning).
enum OpenAICategoryMap {
    /// OpenAI name → model indices feeding it.
    static let openAI: [(name: String, indices: [Int])] = [
        ("illicit/violent", [0, 7]), ("illicit", [1]), ("sexual/minors", [3]), ("hate", [8]), ("self-harm", [9]),
        ("sexual", [10]),
    ]

    /// The snake_case name of a display name ("Non-violent crimes" → `non_violent_crimes`).
    static func snakeCase(_ displayName: String) -> String {
        var name = ""
        for scalar in displayName.lowercased().unicodeScalars {
            if ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) {
                name.unicodeScalars.append(scalar)
            } else if !name.hasSuffix("_") {
                name.append("_")
            }
        }
        return name
    }

    /// `categories` and `category_scores` of one result: the model's probabilities (model
    /// order) and which categories are flagged (model indices), under both naming schemes.
    static func entries(names: [String], probabilities: [Float], flagged: Set<Int>) -> (categories: [String: Bool], scores: [String: Float]) {
        var categories: [String: Bool] = [:]
        var scores: [String: Float] = [:]
        for (index, probability) in probabilities.enumerated() {
            let name = snakeCase(names.indices.contains(index) ? names[index] : "label \(index)")
            categories[name] = flagged.contains(index)
            scores[name] = probability
        }
        for (name, indices) in openAI where indices.allSatisfy(probabilities.indices.contains) {
            categories[name] = indices.contains(where: flagged.contains)
            scores[name] = indices.map { probabilities[$0] }.max() ?? 0
        }
        return (categories, scores)
    }
}
