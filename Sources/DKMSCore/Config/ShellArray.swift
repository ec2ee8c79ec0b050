/// A bash variable as dkms sees it: every bash variable is an array,
/// possibly sparse; `$NAME` is element 0.
package struct ShellArray: Sendable, Equatable {
    /// The set elements by index.
    package var elements: [Int: String]

    /// Creates an array from its set elements.
    package init(_ elements: [Int: String] = [:]) {
        self.elements = elements
    }

    /// A scalar (element 0).
    package init(scalar: String) {
        self.elements = [0: scalar]
    }

    /// `${NAME[i]}`: the element or the empty string.
    package subscript(index: Int) -> String {
        elements[index] ?? ""
    }

    /// `$NAME`: element 0 or the empty string.
    package var value: String { self[0] }

    /// `${#NAME[@]}`: how many elements are set.
    package var count: Int { elements.count }

    /// `${!NAME[@]}`: the set indices in ascending order.
    package var indices: [Int] { elements.keys.sorted() }

    /// The highest set index, or -1.
    package var maxIndex: Int { elements.keys.max() ?? -1 }

    /// `${NAME[@]}`: the set values in index order.
    package var values: [String] { indices.map { elements[$0] ?? "" } }
}

/// A set of bash variables read back from an evaluated file.
package struct ShellVariables: Sendable, Equatable {
    /// The variables that were set, by name.
    package var arrays: [String: ShellArray]
    /// The variables with a value that was not valid UTF-8 (its bytes
    /// were replaced by U+FFFD).
    package var undecodable: Set<String> = []

    /// Creates a variable set.
    package init(_ arrays: [String: ShellArray] = [:]) {
        self.arrays = arrays
    }

    /// The variable (empty when unset).
    package subscript(name: String) -> ShellArray {
        get { arrays[name] ?? ShellArray() }
        set { arrays[name] = newValue }
    }

    /// Whether the variable has at least one element.
    package func isSet(_ name: String) -> Bool {
        !(arrays[name]?.elements.isEmpty ?? true)
    }
}
