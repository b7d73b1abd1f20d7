// What the key-value model's reads reveal about the order of unique writes and appends.

import History

extension KeyValueModel {
    /// Orders every linearization must respect, read off the values observed (Elle-style).
    ///
    /// When every write and append of the part carries a distinct, non-empty value, a read's
    /// value is the last write's value (or nothing) followed by the values appended since, in
    /// the order they took effect. If it splits into such values in exactly one way — say
    /// `p0 p1 … pk` — then in every linearization p0, …, pk took effect in that order and
    /// before the read, and (as no operation takes effect twice) any read that saw a state
    /// ending in `pj` came before `pj+1`. Without deletes or empty writes, a read of `""` from
    /// the empty initial state came before every write and non-empty append. Nothing is
    /// inferred from another initial state. Reads whose value splits
    /// in several ways add nothing (the search itself judges them); a read whose value cannot
/// be made at all, from the empty initial state, is impossible: `(r, r)`.
    ///
    /// These orders hold in every linearization, so the search may refuse any other order
    /// without changing a verdict; what it gains is never trying an order of concurrent
    /// appends that a later read contradicts (the blow-up of the plain search on
    /// append-heavy histories).
    public func inferredOrder(_ steps: [Step], initialState: Value) -> [(before: Int, after: Int)] {
        // The splits below assume the state is built from the part's own writes and appends.
        // From another state (the counterexample's windows start from the states an earlier
        // prefix leaves) a read's value may begin with that state, which no split accounts
        // for: e.g. from "a", a read of "ab" may follow an append of "b" although it also
        // splits uniquely as a write of "ab". Infer nothing then.
        guard initialState.isNull || initialState.text == "" else { return [] }
        // The written and appended values, which must be distinct and non-empty.
        var writeOf: [[UInt8]: Int] = [:], appendOf: [[UInt8]: Int] = [:]
        var lengths = Set<Int>()
        var hasDelete = false
        for (i, step) in steps.enumerated() {
            switch step {
            case .write(let value):
                guard let text = value.text, !text.isEmpty else { if value.isNull { hasDelete = true; continue }; return [] }
                let bytes = Array(text.utf8)
                guard writeOf[bytes] == nil, appendOf[bytes] == nil else { return [] }
                writeOf[bytes] = i
                lengths.insert(bytes.count)
            case .append(let text):
                guard !text.isEmpty else { continue }
                let bytes = Array(text.utf8)
                guard writeOf[bytes] == nil, appendOf[bytes] == nil else { return [] }
                appendOf[bytes] = i
                lengths.insert(bytes.count)
            case .delete: hasDelete = true
            case .read: break
            }
        }
        guard !writeOf.isEmpty || !appendOf.isEmpty else { return [] }
        let sortedLengths = lengths.sorted()
        var order: [(before: Int, after: Int)] = []
        var successor: [Int: Set<Int>] = [:]
        var lastPiece: [(read: Int, piece: Int)] = []
        var emptyReads: [Int] = []
        for (r, step) in steps.enumerated() {
            guard case .read(let seen?) = step else { continue }
            guard let text = seen.text, !text.isEmpty else {
                if seen.isNull || seen.text == "" { emptyReads.append(r) }
                continue
            }
            let bytes = Array(text.utf8)
            guard let pieces = uniqueSplit(bytes, writeOf: writeOf, appendOf: appendOf, lengths: sortedLengths) else {
                // From the empty initial state every state is a write's value or nothing, then
                // appended values: a value with no such split at all is never read. The pair
                // (r, r) says so (the search reports the violation without exploring).
                if initialState.isNull || initialState.text == "",
                   splitCount(bytes, writeOf: writeOf, appendOf: appendOf, lengths: sortedLengths) == 0 {
                    order.append((r, r))
                }
                continue
            }
            for k in pieces.indices.dropFirst() {
                order.append((pieces[k - 1], pieces[k]))
                successor[pieces[k - 1], default: []].insert(pieces[k])
            }
            order.append((pieces[pieces.count - 1], r))
            lastPiece.append((r, pieces[pieces.count - 1]))
        }
        for (read, piece) in lastPiece {
            for next in successor[piece] ?? [] { order.append((read, next)) }
        }
        let startsEmpty = initialState.isNull || initialState.text == ""
        if startsEmpty && !hasDelete && emptyReads.count * steps.count <= 1_000_000 {
            // Only the operations that change the state: an empty append leaves it empty, so a
            // read of "" may follow it.
            let mutations = steps.indices.filter {
                switch steps[$0] {
                case .read: false
                case .append(let text): !text.isEmpty
                case .write, .delete: true
                }
            }
            for r in emptyReads { for m in mutations { order.append((r, m)) } }
        }
        return order
    }

    /// In how many ways (0, 1, or 2 for "several") `bytes` splits into a write's value or an
    /// append's, then appended values, operations allowed to repeat.
    func splitCount(_ bytes: [UInt8], writeOf: [[UInt8]: Int], appendOf: [[UInt8]: Int], lengths: [Int]) -> Int {
        let n = bytes.count
        var ways = [Int](repeating: 0, count: n + 1)
        ways[n] = 1
        var i = n - 1
        while i >= 0 {
            for length in lengths where i + length <= n && ways[i + length] > 0 && appendOf[Array(bytes[i..<(i + length)])] != nil {
                ways[i] = min(2, ways[i] + ways[i + length])
            }
            i -= 1
        }
        var total = ways[0]
        for length in lengths where length <= n && ways[length] > 0 && writeOf[Array(bytes[0..<length])] != nil {
            total = min(2, total + ways[length])
        }
        return total
    }

    /// The operations whose values make up `bytes` — a write's value or an append's first,
    /// then appends — if there is exactly one such split with no operation twice.
    func uniqueSplit(_ bytes: [UInt8], writeOf: [[UInt8]: Int], appendOf: [[UInt8]: Int], lengths: [Int]) -> [Int]? {
        let n = bytes.count
        // ways[i]: splits of bytes[i...] into appended values (capped at 2).
        var ways = [Int](repeating: 0, count: n + 1)
        var choice = [Int](repeating: -1, count: n + 1)
        ways[n] = 1
        var i = n - 1
        while i >= 0 {
            for length in lengths where i + length <= n {
                guard ways[i + length] > 0, appendOf[Array(bytes[i..<(i + length)])] != nil else { continue }
                ways[i] = min(2, ways[i] + ways[i + length])
                choice[i] = length
            }
            i -= 1
        }
        var total = ways[0]
        var first: (op: Int, length: Int)? = ways[0] == 1 ? (appendOf[Array(bytes[0..<choice[0]])]!, choice[0]) : nil
        for length in lengths where length <= n {
            guard ways[length] > 0, let w = writeOf[Array(bytes[0..<length])] else { continue }
            total = min(2, total + ways[length])
            first = (w, length)
        }
        guard total == 1, let start = first else { return nil }
        var pieces = [start.op]
        var position = start.length
        while position < n {
            let length = choice[position]
            pieces.append(appendOf[Array(bytes[position..<(position + length)])]!)
            position += length
        }
        return Set(pieces).count == pieces.count ? pieces : nil
    }
}
