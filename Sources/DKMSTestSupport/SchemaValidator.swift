import Foundation

/// A small JSON Schema checker for the keywords our schemas use:
/// `type` (one or several), `required`, `properties`,
/// `additionalProperties: false`, `items`, `enum` and `const`.
package enum SchemaValidator {
    /// The problems found (empty when the instance is valid).
    package static func validate(_ instance: Any, against schema: [String: Any], at path: String = "$") -> [String] {
        var problems: [String] = []
        if let constant = schema["const"], !equal(instance, constant) {
            problems.append("\(path): expected \(constant)")
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { equal(instance, $0) }) {
            problems.append("\(path): \(instance) is not one of \(options)")
        }
        if let type = schema["type"] {
            let types = (type as? [String]) ?? [type as? String ?? ""]
            if !types.contains(where: { matches(instance, type: $0) }) {
                problems.append("\(path): expected \(types.joined(separator: " or "))")
                return problems
            }
        }
        if let object = instance as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path): missing \(key)")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, value) in object {
                if let sub = properties[key] as? [String: Any] {
                    problems += validate(value, against: sub, at: "\(path).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(path): unexpected \(key)")
                }
            }
        }
        if let array = instance as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, item) in array.enumerated() {
                problems += validate(item, against: items, at: "\(path)[\(index)]")
            }
        }
        return problems
    }

    private static func matches(_ value: Any, type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "boolean": return (value as? NSNumber).map { CFGetTypeIDIsBoolean($0) } ?? false
        case "string": return value is String
        case "array": return value is [Any]
        case "object": return value is [String: Any]
        case "number", "integer": return value is NSNumber && !((value as? NSNumber).map { CFGetTypeIDIsBoolean($0) } ?? false)
        default: return false
        }
    }

    private static func CFGetTypeIDIsBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c" || type(of: number) == type(of: NSNumber(value: true))
    }

    private static func equal(_ a: Any, _ b: Any) -> Bool {
        if let a = a as? String, let b = b as? String { return a == b }
        if let a = a as? NSNumber, let b = b as? NSNumber { return a == b }
        return false
    }
}
