import HTTPTypes

/// The request headers the encrypted and refresh endpoints read, found in one pass over the
/// fields. Each `HTTPFields` subscript by name searches the fields and joins what it finds on its
/// own: the three reads of a keyed request cost about 2 % of generate's server CPU in a profile.
/// A header sent more than once reads as its values joined with ", ", as the subscript gives it.
struct RequestHeaderScan {
    var authorization: String?
    var contentLength: String?
    var contentType: String?

    init(_ fields: HTTPFields) {
        for field in fields {
            switch field.name {
            case .authorization: Self.add(field.value, to: &authorization)
            case .contentLength: Self.add(field.value, to: &contentLength)
            case .contentType: Self.add(field.value, to: &contentType)
            default: continue
            }
        }
    }

    /// Appended in place (the slot gives up its reference first), so that a header repeated many
    /// times costs time linear in its size, not quadratic.
    private static func add(_ value: String, to slot: inout String?) {
        guard var joined = slot else {
            slot = value
            return
        }
        slot = nil
        joined += ", "
        joined += value
        slot = joined
    }
}
