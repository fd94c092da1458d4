import KilnIR
import Foundation

/// String operators: StringSplit, StringNormalizer, RegexFullMatch (StringConcat lives with the
/// binary operators, which share its broadcasting).
///
/// 1. StringSplit: Python `str.split(delimiter, maxsplit)`; an empty or absent delimiter splits on
///    runs of whitespace and drops leading/trailing whitespace. Y pads each row with "" to the
///    longest split (shape `x.shape + [longest]`), Z holds the counts.
/// 2. StringNormalizer (1-D or `[1, C]`): words (space-separated) equal to a stopword are removed
///    (`is_case_sensitive`: before the case change, exactly; otherwise after it, against stopwords
///    changed the same way), then `case_change_action` LOWER/UPPER/NONE; empty results are dropped
///    (an all-empty result is `[""]`). Accents are not stripped (the reference strips them).
/// 3. RegexFullMatch: whether the whole string matches `pattern` (Swift `Regex` syntax, which agrees
///    with RE2 on the common subset; `\b` uses simple word boundaries, as RE2, not Unicode ones).
enum StringKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("StringSplit", since: 20) { ctx in
            let x = try ctx.tensor(0)
            guard let strings = x.elements(as: String.self) else { throw ctx.error("input must be strings") }
            let delimiter = try ctx.string("delimiter", default: "")
            let maxSplit: Int? = ctx.node.attribute("maxsplit") == nil ? nil : try ctx.int("maxsplit")
            let parts = strings.map { split($0, delimiter: delimiter, maxSplit: maxSplit) }
            let longest = parts.map(\.count).max() ?? 0
            var y = ContiguousArray<String>()
            for p in parts { y.append(contentsOf: p + [String](repeating: "", count: longest - p.count)) }
            return [.tensor(TensorValue(shape: x.shape + [longest], elements: y)),
                    .tensor(TensorValue(shape: x.shape, parts.map { Int64($0.count) }))]
        }
        r.register("StringNormalizer", since: 10) { ctx in
            let x = try ctx.tensor(0)
            guard let strings = x.elements(as: String.self) else { throw ctx.error("input must be strings") }
            guard x.rank == 1 || (x.rank == 2 && x.shape[0] == 1) else {
                throw ctx.error("input must be [C] or [1, C], got \(x.shape)")
            }
            let action = try ctx.string("case_change_action", default: "NONE")
            let caseSensitive = try ctx.int("is_case_sensitive", default: 0) != 0
            var stopwords: [String] = []
            if case .strings(let s)? = ctx.node.attribute("stopwords")?.value { stopwords = s.map { String(decoding: $0, as: UTF8.self) } }
            func change(_ s: String) throws -> String {
                switch action {
                case "LOWER": return s.lowercased()
                case "UPPER": return s.uppercased()
                case "NONE": return s
                default: throw ctx.error("unknown case_change_action '\(action)'")
                }
            }
            func removing(_ stops: Set<String>, from s: String) -> String {
                s.split(separator: " ", omittingEmptySubsequences: false).map(String.init).filter { !stops.contains($0) }.joined(separator: " ")
            }
            var out: [String] = []
            for s in strings {
                var v = s
                if caseSensitive && !stopwords.isEmpty { v = removing(Set(stopwords), from: v) }
                v = try change(v)
                if !caseSensitive && !stopwords.isEmpty { v = removing(Set(try stopwords.map(change)), from: v) }
                if !v.isEmpty { out.append(v) }
            }
            if out.isEmpty { out = [""] }
            let shape = x.rank == 2 ? [1, out.count] : [out.count]
            return KernelContext.one(TensorValue(shape: shape, out))
        }
        r.register("RegexFullMatch", since: 20) { ctx in
            let x = try ctx.tensor(0)
            guard let strings = x.elements(as: String.self) else { throw ctx.error("input must be strings") }
            let pattern = try ctx.string("pattern")
            let regex: Regex<AnyRegexOutput>
            do { regex = try Regex(pattern).wordBoundaryKind(.simple) } catch { throw ctx.error("invalid pattern '\(pattern)': \(error)") }
            return KernelContext.one(TensorValue(shape: x.shape, strings.map { (try? regex.wholeMatch(in: $0)) != nil }))
        }
    }

    /// Python's `str.split(sep, maxsplit)`.
    static func split(_ s: String, delimiter: String, maxSplit: Int?) -> [String] {
        let limit = maxSplit.map { $0 < 0 ? Int.max : $0 } ?? Int.max
        if delimiter.isEmpty {
            var parts: [String] = []
            var rest = Substring(s).drop { $0.isWhitespace }
            while !rest.isEmpty {
                if parts.count == limit { parts.append(String(rest)); break }
                let word = rest.prefix { !$0.isWhitespace }
                parts.append(String(word))
                rest = rest.dropFirst(word.count).drop { $0.isWhitespace }
            }
            return parts
        }
        var parts: [String] = []
        var rest = Substring(s)
        while parts.count < limit, let range = rest.range(of: delimiter) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
