/// A participant's site: the unit that owns keys, clients and (for client-side generation) domains.
public struct Site: Sendable, Equatable {
    public var id: Int32
    public var name: String
    public var enabled: Bool
    public var domainNames: [String]
    public var appNames: [String]
    public var createdSeconds: Int64

    public init(id: Int32, name: String, enabled: Bool = true, domainNames: [String] = [], appNames: [String] = [], createdSeconds: Int64 = 0) {
        self.id = id
        self.name = name
        self.enabled = enabled
        self.domainNames = domainNames
        self.appNames = appNames
        self.createdSeconds = createdSeconds
    }
}
