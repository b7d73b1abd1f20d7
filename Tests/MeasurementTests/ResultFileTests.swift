// JSON result files: round trip, schema fields, and clear errors for malformed files.

import Foundation
import Testing
@testable import Measurement

@Suite struct ResultFileTests {
    @Test("a result survives writing and reading its JSON file")
    func roundTrip() throws {
        var result = Fixtures.result(seed: 11, count: 4000, runtimeMs: 1234)
        result.metadata.target = 5000
        result.metadata.warmUpExcludedOperations = 17
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-result-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try ResultFile.write(result, to: url)
        let back = try ResultFile.read(contentsOf: url)
        // KVLAB_RESULT_SAMPLE=path keeps a copy, e.g. to validate it against docs/result-schema.json.
        if let sample = ProcessInfo.processInfo.environment["KVLAB_RESULT_SAMPLE"] {
            try ResultFile.write(result, to: URL(fileURLWithPath: sample))
        }
        #expect(back.metadata.startTime.timeIntervalSince1970 == result.metadata.startTime.timeIntervalSince1970)
        #expect(back == result)
    }

    @Test("the document has the documented top-level shape and derived numbers")
    func documentShape() throws {
        let result = Fixtures.result(seed: 3, count: 100, runtimeMs: 50)
        let json = try #require(JSONSerialization.jsonObject(with: ResultFile.encode(result)) as? [String: Any])
        #expect(json["format"] as? String == "kvlab-result")
        #expect(json["version"] as? Int == 2)
        let overall = try #require(json["overall"] as? [String: Any])
        #expect(overall["operations"] as? Int == 100)
        #expect(overall["throughput"] as? Double == 2000)
        let metadata = try #require(json["metadata"] as? [String: Any])
        #expect(metadata["startTime"] as? String == "2026-04-01T12:00:00.000Z")
        #expect(metadata["phase"] as? String == "run")
        let series = try #require(json["series"] as? [[String: Any]])
        #expect(series.map { $0["name"] as? String } == ["READ", "UPDATE"])
        let percentiles = try #require(series[0]["percentiles"] as? [String: Any])
        #expect(Set(percentiles.keys) == ["50", "90", "95", "99", "99.9", "99.99"])
        #expect((series[0]["histogram"] as? String)?.hasPrefix("HISTFAAA") == true)
        #expect(series[0]["returns"] as? [String: Int] == ["OK": 50])
    }

    func decodeError(_ text: String) -> ResultFileError? {
        do {
            _ = try ResultFile.decode(Data(text.utf8), file: "bad.json")
            return nil
        } catch {
            return error
        }
    }

    func validDocument() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: ResultFile.encode(Fixtures.result(seed: 5, count: 10, runtimeMs: 5))) as! [String: Any]
    }

    func text(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test("text that is not JSON is an error naming the file")
    func notJSON() throws {
        let error = try #require(decodeError("{\"format\": \"kvlab-result\", "))
        guard case .notJSON = error.reason else { Issue.record("\(error)"); return }
        #expect(error.description.hasPrefix("bad.json: not valid JSON"))
    }

    @Test("a different JSON document is rejected by its format field")
    func wrongFormat() throws {
        let error = try #require(decodeError("{\"metric\": \"READ\"}"))
        #expect(error.description == "bad.json: $.format is 'missing', expected 'kvlab-result'")
        var doc = try validDocument()
        doc["version"] = 3
        #expect(try #require(decodeError(try text(doc))).description.contains("$.version version 3 is not supported (this kvlab reads 1 and 2)"))
    }

    @Test("a missing or mistyped field is reported with its JSON path")
    func fieldPaths() throws {
        var doc = try validDocument()
        var series = doc["series"] as! [[String: Any]]
        series[1]["operations"] = "many"
        doc["series"] = series
        let mistyped = try #require(decodeError(try text(doc)))
        #expect(mistyped.description.hasPrefix("bad.json: $.series[1].operations expected"))

        doc = try validDocument()
        var metadata = doc["metadata"] as! [String: Any]
        metadata.removeValue(forKey: "engine")
        doc["metadata"] = metadata
        #expect(try #require(decodeError(try text(doc))).description == "bad.json: $.metadata.engine is missing")
    }

    @Test("a corrupt histogram is reported with its path and byte offset")
    func corruptHistogram() throws {
        var doc = try validDocument()
        var series = doc["series"] as! [[String: Any]]
        series[0]["histogram"] = "AAAAAAAAAAA="
        doc["series"] = series
        let error = try #require(decodeError(try text(doc)))
        #expect(error.description.hasPrefix("bad.json: $.series[0].histogram: histogram bad cookie at byte 0"))
    }

    @Test("operations that disagree with the histogram are an error")
    func inconsistentCounts() throws {
        var doc = try validDocument()
        var series = doc["series"] as! [[String: Any]]
        series[0]["operations"] = 999
        doc["series"] = series
        let error = try #require(decodeError(try text(doc)))
        #expect(error.description.contains("$.series[0].operations series READ says 999 operations but its histogram holds 5"))
    }

    @Test("a missing file is an error naming it")
    func missingFile() {
        #expect(throws: ResultFileError.self) {
            try ResultFile.read(contentsOf: URL(fileURLWithPath: "/nonexistent/kvlab.json"))
        }
    }
}
