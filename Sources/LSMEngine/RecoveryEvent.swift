// What an open found damaged in the unsynced tail of a log or manifest and cut off.

/// One repair made while opening: damaged bytes at the end of a log or manifest, in the region
/// a power loss may leave torn, zeroed or garbage (nothing proves it was synced), were cut off.
/// Damage that a later record proves was synced is never repaired: the open fails instead,
/// naming the file and offset (`EngineError.corruption`).
public struct RecoveryEvent: Sendable, Equatable, CustomStringConvertible {
    /// The file repaired.
    public let file: String
    /// Where the cut starts: the start of the first damaged record.
    public let offset: Int64
    /// Bytes dropped from `offset` to the end of the file.
    public let droppedBytes: Int64
    /// What was found there.
    public let detail: String

    public var description: String {
        "\(file): cut \(droppedBytes) bytes at offset \(offset) (\(detail))"
    }
}
