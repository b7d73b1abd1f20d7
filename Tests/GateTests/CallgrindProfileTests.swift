// Parsing callgrind output: inclusive costs of the counted functions, allocation calls, errors.

import Testing
@testable import Gate

@Suite("Callgrind profile")
struct CallgrindProfileTests {
    // A trimmed callgrind.out in valgrind 3.x's format, with name compression.
    let sample = """
    # callgrind format
    version: 1
    creator: callgrind-3.24.0
    cmd: kvlab count-worker
    positions: line
    events: Ir
    summary: 1500

    ob=(1) /usr/bin/kvlab
    fl=(1) ???
    fn=(1) kvlab_counted_read
    0 40
    cfn=(2) $s10HashEngine4getyyF
    calls=10 0
    0 900
    cfn=(3) malloc
    calls=2 0
    0 60

    fn=(2)
    0 900
    cfn=(3)
    calls=3 0
    0 90

    fn=(4) kvlab_counted_update
    +2 100
    cfn=(3)
    calls=1 0
    * 30

    totals: 1500
    """

    @Test("inclusive cost of a counted function adds its own cost and its calls' costs")
    func inclusiveCosts() throws {
        let profile = try CallgrindProfile.parse(sample, functions: ["kvlab_counted_read", "kvlab_counted_update", "kvlab_counted_scan"], file: "cg.out")
        #expect(profile.inclusiveInstructions["kvlab_counted_read"] == 1000)
        #expect(profile.inclusiveInstructions["kvlab_counted_update"] == 130)
        #expect(profile.inclusiveInstructions["kvlab_counted_scan"] == 0)
        #expect(profile.allocationCalls == 6)
        #expect(profile.totalInstructions == 1500)
    }

    @Test("a file that is not callgrind output is refused with its name")
    func notCallgrind() {
        #expect(throws: CountingError.malformedProfile(file: "x.txt", line: 1, detail: "no 'events:' line; not a callgrind output file")) {
            try CallgrindProfile.parse("hello\n", functions: [], file: "x.txt")
        }
        #expect(throws: CountingError.self) {
            try CallgrindProfile.parse("events: Ir\nfn=(1) f\n0 abc\n", functions: ["f"], file: "y")
        }
    }
}
