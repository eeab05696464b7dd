import Foundation
import Inference

/// What the batcher carries to the model: a stream request (Kafka) or a synchronous caller's.
/// The two share batches (``MicroBatcher``'s urgent lane puts calls first); they differ in
/// where the answer goes.
enum BatchItem: Sendable {
    case stream(WorkItem)
    case call(SyncCall)

    var prepared: PreparedText {
        switch self {
        case .stream(let item): item.prepared
        case .call(let call): call.prepared
        }
    }

    var deadline: Date? {
        switch self {
        case .stream(let item): item.deadline
        case .call(let call): call.deadline
        }
    }

    /// The stream request, when this is one (what revocation and stop hand back).
    var stream: WorkItem? {
        if case .stream(let item) = self { item } else { nil }
    }
}
