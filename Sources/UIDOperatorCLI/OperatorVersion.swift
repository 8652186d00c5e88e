/// What `uid-operator --version` prints.
enum OperatorVersion {
    static let current = "0.9.0"
}
