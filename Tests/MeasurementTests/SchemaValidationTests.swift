// Result files validate against the documented schema, docs/result-schema.json.

import Foundation
import Testing
@testable import Measurement

/// The subset of JSON Schema (draft 2020-12) that docs/result-schema.json uses: type, const,
/// enum, required, properties, additionalProperties (false or a schema), propertyNames, items,
/// minimum, pattern. Returns the first violation as "path: what was expected".
enum SchemaValidator {
    static func validate(_ value: Any, against schema: [String: Any], path: String = "$") -> String? {
        if let constant = schema["const"] {
            if !equal(value, constant) { return "\(path): expected the constant \(constant)" }
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { equal(value, $0) }) {
            return "\(path): expected one of \(options)"
        }
        if let type = schema["type"] as? String, !hasType(value, type) {
            return "\(path): expected \(type), found \(Swift.type(of: value))"
        }
        if let minimum = (schema["minimum"] as? NSNumber)?.doubleValue, let number = value as? NSNumber, number.doubleValue < minimum {
            return "\(path): expected at least \(minimum)"
        }
        if let pattern = schema["pattern"] as? String, let text = value as? String,
           text.range(of: pattern, options: .regularExpression) == nil {
            return "\(path): '\(text)' does not match \(pattern)"
        }
        if let object = value as? [String: Any] {
            for name in schema["required"] as? [String] ?? [] where object[name] == nil {
                return "\(path): missing required property '\(name)'"
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (name, member) in object.sorted(by: { $0.key < $1.key }) {
                if let names = schema["propertyNames"] as? [String: Any], let problem = validate(name, against: names, path: "\(path) key") {
                    return problem
                }
                if let sub = properties[name] as? [String: Any] {
                    if let problem = validate(member, against: sub, path: "\(path).\(name)") { return problem }
                } else if let extra = schema["additionalProperties"] {
                    if let allowed = extra as? Bool, !allowed { return "\(path): unexpected property '\(name)'" }
                    if let sub = extra as? [String: Any], let problem = validate(member, against: sub, path: "\(path).\(name)") { return problem }
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (i, element) in array.enumerated() {
                if let problem = validate(element, against: items, path: "\(path)[\(i)]") { return problem }
            }
        }
        return nil
    }

    static func hasType(_ value: Any, _ type: String) -> Bool {
        switch type {
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        // (Foundation on Linux bridges 0 and 1 to Bool too, so booleans are not told apart here;
        // the schema has none.)
        case "integer":
            guard let n = value as? NSNumber else { return false }
            return n.doubleValue == n.doubleValue.rounded()
        case "number": return value is NSNumber
        default: return false
        }
    }

    static func equal(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = a as? NSNumber, let y = b as? NSNumber { return x == y }
        return false
    }
}

@Suite struct SchemaValidationTests {
    static let schemaURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/result-schema.json")

    func schema() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.schemaURL)) as? [String: Any])
    }

    @Test("a written result file validates against docs/result-schema.json")
    func validates() throws {
        var result = Fixtures.result(seed: 5, count: 2000, runtimeMs: 900)
        result.metadata.target = 1000
        result.metadata.gitCommit = "abc123"
        result.metadata.memory = RunMetadata.MemoryPeaks(allocator: "jemalloc-5.3.0", peakAllocatedBytes: 1 << 30, peakResidentBytes: 1 << 31)
        let document = try JSONSerialization.jsonObject(with: ResultFile.encode(result))
        let problem = SchemaValidator.validate(document, against: try schema())
        #expect(problem == nil, "\(problem ?? "")")
    }

    @Test("the validator rejects documents that break the schema")
    func validatorRejects() throws {
        let result = Fixtures.result(seed: 5, count: 100, runtimeMs: 900)
        var document = try #require(try JSONSerialization.jsonObject(with: ResultFile.encode(result)) as? [String: Any])
        document["overall"] = ["runtimeMs": 1, "operations": -3, "throughput": 1.0]
        #expect(SchemaValidator.validate(document, against: try schema())?.contains("$.overall.operations") == true)
        document.removeValue(forKey: "series")
        #expect(SchemaValidator.validate(document, against: try schema())?.contains("missing required property 'series'") == true)
    }
}
