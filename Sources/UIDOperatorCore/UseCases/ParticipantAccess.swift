import UIDProtocol

extension OperatorSnapshot {
    /// Whether `siteID`'s participants may use the API. A site the store does not list (clients of
    /// an import without their sites) counts as enabled; `site disable` turns off all of a site's
    /// clients and client-side key pairs at once.
    public func isSiteEnabled(_ siteID: Int32) -> Bool {
        sites[siteID]?.enabled ?? true
    }

    /// The client behind `apiKey` if it may call an endpoint open to `roles`: enabled, of an
    /// enabled site, holding one of the roles. Nil is the reference's 401 `unauthorized`.
    public func authorizedClient(apiKey: String, roles: [Role]) -> ClientKey? {
        guard let client = clients.client(forAPIKey: apiKey), !client.disabled, isSiteEnabled(client.siteID),
              client.hasAnyRole(roles)
        else { return nil }
        return client
    }
}
