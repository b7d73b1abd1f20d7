// Properties every input must satisfy beyond "no crash", shared by the libFuzzer target
// (FuzzRESP) and the seeded unit tests: parse and parseHead agree, the way input is split into
// reads never changes what is parsed, and what is parsed re-encodes to bytes that parse back.

/// Checks the RESP parsers against each other and against themselves on one input.
public enum RESPConsistency {
    /// A broken property: which one, and what differed.
    public struct Violation: Error, Sendable, CustomStringConvertible {
        public var property: String
        public var detail: String
        public var description: String { "\(property): \(detail)" }
    }

    /// What parsing a stream produced: the items in order (values as their encoding, commands as
    /// their arguments), then the error that stopped it, if any, and the unparsed remainder.
    struct Outcome: Equatable {
        var items: [[[UInt8]]] = []
        var error: RESPParseError? = nil
        var remainder = 0
    }

    /// Checks `input` (see the file comment for the properties).
    /// - Parameters:
    ///   - splits: positions where the input is cut into reads for the split property (any
    ///     values; out-of-range ones are ignored).
    ///   - unauthenticated: parse commands with Redis's limits before AUTH.
    /// - Returns: the first violated property, or nil.
    public static func check(_ input: UnsafeRawBufferPointer, splits: [Int], limits: RESPLimits,
                             unauthenticated: Bool = false) -> Violation? {
        let cuts = Array(Set(splits.filter { $0 > 0 && $0 < input.count })).sorted()
        let values = RESPValueParser(limits: limits)
        // 1. parseHead agrees with parse at every value boundary of the stream.
        var offset = 0
        while offset < input.count {
            let slice = UnsafeRawBufferPointer(rebasing: input[offset...])
            let full: Result<(value: RESPValue, consumed: Int)?, RESPParseError>
            do throws(RESPParseError) { full = .success(try values.parse(slice, baseOffset: offset)) } catch { full = .failure(error) }
            let head: Result<(head: RESPReplyHead, consumed: Int)?, RESPParseError>
            do throws(RESPParseError) { head = .success(try values.parseHead(slice, baseOffset: offset)) } catch { head = .failure(error) }
            switch (full, head) {
            case (.failure(let a), .failure(let b)):
                if a != b { return Violation(property: "parse vs parseHead", detail: "at offset \(offset): parse threw \(a), parseHead threw \(b)") }
                offset = input.count
            case (.success(nil), .success(nil)):
                offset = input.count
            case (.success(let v?), .success(let h?)):
                guard v.consumed == h.consumed else {
                    return Violation(property: "parse vs parseHead", detail: "at offset \(offset): parse took \(v.consumed) bytes, parseHead \(h.consumed)")
                }
                guard v.value.isNull == h.head.isNull, v.value.isError == h.head.isError else {
                    return Violation(property: "parse vs parseHead", detail: "at offset \(offset): \(v.value) described as type \(h.head.type) null \(h.head.isNull) error \(h.head.isError)")
                }
                offset += v.consumed
            default:
                return Violation(property: "parse vs parseHead", detail: "at offset \(offset): parse gave \(full), parseHead \(head)")
            }
        }
        // 2. Any split gives the same values and commands, and the same error, as the whole input.
        let wholeValues = valueOutcome(input, cuts: [], values)
        let splitValues = valueOutcome(input, cuts: cuts, values)
        if wholeValues != splitValues {
            return Violation(property: "split values", detail: "cut at \(cuts): \(splitValues) vs whole \(wholeValues)")
        }
        let wholeCommands = commandOutcome(input, cuts: [], limits, unauthenticated)
        let splitCommands = commandOutcome(input, cuts: cuts, limits, unauthenticated)
        if wholeCommands != splitCommands {
            return Violation(property: "split commands", detail: "cut at \(cuts): \(splitCommands) vs whole \(wholeCommands)")
        }
        // 3. Encode -> parse round trips: a value's encoding parses back to the same encoding
        // (the encoder normalizes, e.g. CR/LF in a simple string, so bytes are compared after
        // one pass), and a command's arguments survive being sent as a RESP array.
        for item in wholeValues.items {
            let encoded = item[0]
            let reparsed: (value: RESPValue, consumed: Int)?
            do { reparsed = try values.parse(encoded) } catch {
                return Violation(property: "value round trip", detail: "\(encoded) failed to parse: \(error)")
            }
            guard let reparsed, reparsed.consumed == encoded.count, reparsed.value.encoded == encoded else {
                return Violation(property: "value round trip", detail: "\(encoded) parsed back as \(String(describing: reparsed))")
            }
        }
        for arguments in wholeCommands.items {
            var bytes: [UInt8] = []
            RESPWriter.header(UInt8(ascii: "*"), arguments.count, &bytes)
            for a in arguments { a.withUnsafeBytes { RESPWriter.bulk($0, &bytes) } }
            // As an authenticated client: an inline command is not held to the limits before
            // AUTH (nor is it in Redis), so its re-encoding as an array may exceed them.
            var parser = RESPCommandParser(limits: limits)
            var command = RESPCommand()
            let consumed: Int?
            do { consumed = try parser.parse(bytes, into: &command) } catch {
                return Violation(property: "command round trip", detail: "\(arguments) encoded failed to parse: \(error)")
            }
            guard consumed == bytes.count, command.arguments == arguments else {
                return Violation(property: "command round trip", detail: "\(arguments) parsed back as \(command.arguments)")
            }
        }
        return nil
    }

    /// The stream read as a client reads replies: bytes accumulate, complete values are taken
    /// from the front.
    static func valueOutcome(_ input: UnsafeRawBufferPointer, cuts: [Int], _ parser: RESPValueParser) -> Outcome {
        var outcome = Outcome()
        var consumed = 0
        for end in cuts + [input.count] {
            // Everything received so far, from the first unparsed byte.
            while consumed < end {
                let window = UnsafeRawBufferPointer(rebasing: input[consumed..<end])
                do throws(RESPParseError) {
                    guard let (value, n) = try parser.parse(window, baseOffset: consumed) else { break }
                    outcome.items.append([value.encoded])
                    consumed += n
                } catch {
                    outcome.error = error
                    return outcome
                }
            }
        }
        outcome.remainder = input.count - consumed
        return outcome
    }

    /// The stream read as the server reads commands, with one incremental parser throughout.
    static func commandOutcome(_ input: UnsafeRawBufferPointer, cuts: [Int], _ limits: RESPLimits, _ unauthenticated: Bool) -> Outcome {
        var parser = RESPCommandParser(limits: limits)
        parser.unauthenticated = unauthenticated
        var command = RESPCommand()
        var outcome = Outcome()
        var consumed = 0
        for end in cuts + [input.count] {
            while consumed < end {
                let window = UnsafeRawBufferPointer(rebasing: input[consumed..<end])
                do throws(RESPParseError) {
                    guard let n = try parser.parse(window, baseOffset: consumed, into: &command) else { break }
                    if !command.isEmpty { outcome.items.append(command.arguments) }
                    consumed += n
                } catch {
                    outcome.error = error
                    return outcome
                }
            }
        }
        outcome.remainder = input.count - consumed
        return outcome
    }
}
