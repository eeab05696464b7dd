/// The link between the schema's `Category` enum and the classifier's 12 outputs. (Their
/// display names are the model's: `DuoGuardModel.categoryNames`, the one list.)
///
/// Proto3 reserves the zero value of an enum for "unspecified", so the model's output
/// index is the enum value minus 1. Keeping that arithmetic here, in one place, means no
/// other module ever writes `rawValue - 1`.
extension ModerationCategory {
    /// Number of categories the model scores (the rows of `score.weight`).
    public static let modelOutputCount = 12

    /// The 12 categories in model output order: `modelOrder[i]` is output `i`.
    public static let modelOrder: [ModerationCategory] = [
        .violentCrimes, .nonViolentCrimes, .sexRelatedCrimes, .childSexualExploitation,
        .specializedAdvice, .privacy, .intellectualProperty, .indiscriminateWeapons,
        .hate, .suicideAndSelfHarm, .sexualContent, .jailbreakPrompts,
    ]

    /// The category of model output `index`, or nil outside 0..<12.
    public init?(modelIndex index: Int) {
        guard ModerationCategory.modelOrder.indices.contains(index) else { return nil }
        self = ModerationCategory.modelOrder[index]
    }

    /// This category's model output index, or nil for `.unspecified` and values unknown
    /// to this build (`UNRECOGNIZED`).
    public var modelIndex: Int? {
        let index = rawValue - 1
        return ModerationCategory.modelOrder.indices.contains(index) ? index : nil
    }
}
