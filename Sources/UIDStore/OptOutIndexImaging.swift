import UIDOperatorCore

/// A store that keeps an image of a node's opt-out index beside it, which the node's next start
/// reads instead of every opt-out row (`SQLiteStore`). The sync loop hands it each index it folds,
/// so the image follows a long-running node rather than staying as its first start left it.
public protocol OptOutIndexImaging: Sendable {
    /// `index` holds every opt-out row up to `watermark`, folded (nothing pending beside its table).
    /// The store decides whether a new image is due and writes it without blocking the caller;
    /// `done` gets the outcome of a write it started.
    func refreshOptOutImage(_ index: OptOutIndex, upTo watermark: Int64, done: @escaping @Sendable (OptOutImageOutcome) -> Void)
}

extension SQLiteStore: OptOutIndexImaging {}
