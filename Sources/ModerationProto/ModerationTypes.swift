// Short names for the generated messages.
//
// protoc-gen-swift prefixes every type with the proto package (`Duoguard_Moderation_V1_`)
// so that two packages can never collide in one module. That prefix is kept in the generated
// file (it is the stable, regenerable truth), and these aliases give the worker and the tests
// readable names without renaming anything in the schema.

/// A text to moderate (`duoguard.moderation.v1.ModerationRequest`).
public typealias ModerationRequest = Duoguard_Moderation_V1_ModerationRequest

/// The outcome of one request (`duoguard.moderation.v1.ModerationResult`).
public typealias ModerationResult = Duoguard_Moderation_V1_ModerationResult

/// gRPC-style status of a result (`duoguard.moderation.v1.Status`).
public typealias ModerationStatus = Duoguard_Moderation_V1_Status

/// One of the 12 DuoGuard categories (`duoguard.moderation.v1.Category`).
public typealias ModerationCategory = Duoguard_Moderation_V1_Category

/// One category's probability with its display name (`duoguard.moderation.v1.CategoryScore`).
public typealias CategoryScore = Duoguard_Moderation_V1_CategoryScore

/// Which model file produced a result (`duoguard.moderation.v1.ModelIdentity`).
public typealias ModelIdentity = Duoguard_Moderation_V1_ModelIdentity

/// Kafka position of the request (`duoguard.moderation.v1.Source`).
public typealias RequestSource = Duoguard_Moderation_V1_Source
