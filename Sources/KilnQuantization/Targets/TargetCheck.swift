import KilnIR
import KilnEvaluator

/// One thing a consumer would reject or run poorly: the node (nil for a model-level finding), its
/// operator, the rule, why, and the `kiln` command that fixes it where one exists.
public struct TargetFinding: Codable, Sendable, Equatable, CustomStringConvertible {
    public var node: String?
    public var op: String?
    public var rule: String
    public var reason: String
    public var fix: String?

    public init(node: String?, op: String?, rule: String, reason: String, fix: String? = nil) {
        self.node = node; self.op = op; self.rule = rule; self.reason = reason; self.fix = fix
    }

    public var description: String {
        let at = node.map { "node '\($0)' (\(op ?? "?"))" } ?? "model"
        return "\(at): [\(rule)] \(reason)" + (fix.map { " (fix: \($0))" } ?? "")
    }
}

extension TargetProfile {
    /// The lowest ai.onnx opset `kiln convert --opset` reads (`OpsetConverter.supportedOpsets`).
    static let convertibleFrom: Int64 = 7

    /// The opset to convert `model` to for this target (the nearest end of the range), or nil when its
    /// ai.onnx opset is already in range or below what `kiln convert` reads.
    public func opsetToConvert(_ model: Model) -> Int? {
        let opset = model.opsetVersion(for: "") ?? 1
        guard !opsets.contains(opset), opset >= Self.convertibleFrom else { return nil }
        return Int(min(max(opset, opsets.lowerBound), opsets.upperBound))
    }
}

/// Checks a model against a `TargetProfile` and the target's `QuantizationRules`.
///
/// Rules (each finding carries the rule name in brackets):
/// 1. `opset.range`: the ai.onnx opset lies in the profile's range; fix `kiln convert --opset N` with N
///    the nearest end of the range, when `kiln convert` reads the model's opset (7 and later, as
///    `OpsetConverter.supportedOpsets`).
/// 2. `op.unsupported`: the node's default-domain operator is not in the profile's rejected list;
///    QOperator and integer forms are fixed by re-quantizing the float model with `--target`. Not
///    repeated when a rule-5 finding already names the operator (one finding per cause).
/// 3. `op.domain`: a node of a custom domain the consumer does not run (local functions excepted; the
///    com.microsoft quantized operators are reported by rule 5 instead).
/// 4. `dtype.<type>`: a graph input/output, declared value, initializer, Cast/Constant result of a type the
///    profile rejects or changes; `dtype.int64-clamped` (TensorRT): an INT64 constant outside the INT32
///    range, except Slice starts/ends (which TensorRT clamps to the dims anyway).
/// 5. `quantization`: `QuantizationRules` for the target, fixed by `kiln quantize --target T`.
public enum TargetCheck {
    public static func findings(_ model: Model, target: QuantizationConfig.Target) -> [TargetFinding] {
        let profile = TargetProfile.of(target)
        var out: [TargetFinding] = []
        let opset = model.opsetVersion(for: "") ?? 1
        if !profile.opsets.contains(opset) {  // rule 1
            out.append(TargetFinding(node: nil, op: nil, rule: "opset.range",
                                     reason: "ai.onnx opset \(opset) is outside \(profile.opsets.lowerBound)...\(profile.opsets.upperBound) (\(profile.consumer))",
                                     fix: profile.opsetToConvert(model).map { "kiln convert --opset \($0)" }))
        }
        let functions = Set(model.functions.map { "\($0.domain)::\($0.name)" })
        let requantize = "kiln quantize --target \(target.rawValue) (on the float model)"
        model.forEachGraph { graph, _ in
            for input in graph.inputs { out += typeFindings(graph[value: input], graph, node: nil, profile) }
            for output in graph.outputs { out += typeFindings(graph[value: output], graph, node: nil, profile) }
            for (_, node) in graph.nodes {
                let isDefault = node.domain.isEmpty || node.domain == "ai.onnx"
                func flag(_ rule: String, _ reason: String, fix: String? = nil) {
                    out.append(TargetFinding(node: node.name, op: node.opType, rule: rule, reason: reason, fix: fix))
                }
                let quantReasons = QuantizationRules.reasons(node, graph, target: target)
                // Rule 2, unless rule 5 already names the operator (TensorRT's QLinear*/integer rule).
                if isDefault, let why = profile.unsupportedOps[node.opType], !quantReasons.contains(where: { $0.contains(node.opType) }) {
                    let quantized = QuantizationRules.integerOps.contains(node.opType) || node.opType.hasPrefix("QLinear")
                    flag("op.unsupported", "\(node.opType): \(why)", fix: quantized ? requantize : nil)
                }
                let quantContrib = node.domain == "com.microsoft" && node.opType.contains("Q")
                if !isDefault, !profile.domains.contains(node.domain), !quantContrib,
                   !functions.contains("\(node.domain)::\(node.opType)") {  // rule 3
                    flag("op.domain", "domain '\(node.domain)' is not run by \(profile.consumer)"
                         + (node.domain.hasPrefix("com.microsoft") ? " (onnxruntime contrib operator, not portable)" : ""))
                }
                for reason in quantReasons {  // rule 5
                    flag("quantization", reason, fix: requantize)
                }
                out += nodeTypeFindings(node, graph, profile)  // rule 4
            }
        }
        return out
    }

    /// Rule 4 for a graph input or output.
    static func typeFindings(_ value: Value, _ graph: Graph, node: Node?, _ profile: TargetProfile) -> [TargetFinding] {
        guard let type = value.type?.tensorElementType, let why = profile.dataTypes[type] else { return [] }
        return [TargetFinding(node: node?.name, op: node?.opType, rule: "dtype.\(type.name)",
                              reason: "value '\(value.name)' is \(type.name): \(why)")]
    }

    /// Rule 4 for what a node reads and writes.
    static func nodeTypeFindings(_ node: Node, _ graph: Graph, _ profile: TargetProfile) -> [TargetFinding] {
        var out: [TargetFinding] = []
        var seen = Set<DataType>()
        func flag(_ type: DataType, _ what: String) {
            guard let why = profile.dataTypes[type], seen.insert(type).inserted else { return }
            out.append(TargetFinding(node: node.name, op: node.opType, rule: "dtype.\(type.name)", reason: "\(what) is \(type.name): \(why)"))
        }
        for case let v? in node.inputs {
            let value = graph[value: v]
            if let t = value.initializer { flag(t.dataType, "initializer '\(value.name)'") }
        }
        for case let v? in node.outputs {
            let value = graph[value: v]
            if let t = value.type?.tensorElementType, !graph.isGraphOutput(v) { flag(t, "output '\(value.name)'") }
            if let t = graph.constantTensor(v) { flag(t.dataType, "constant '\(value.name)'") }
        }
        if node.opType == "Cast", let to = try? node.int("to"), let t = DataType(rawValue: Int32(to)) { flag(t, "Cast result") }
        guard profile.clampsInt64 else { return out }
        for (k, input) in node.inputs.enumerated() {
            if node.opType == "Slice" && (k == 1 || k == 2) { continue }
            guard let input, let t = graph.constantTensor(input), t.dataType == .int64,
                  let values = try? TensorValue(t).int64s,
                  let bad = values.first(where: { $0 > Int64(Int32.max) || $0 < Int64(Int32.min) }) else { continue }
            out.append(TargetFinding(node: node.name, op: node.opType, rule: "dtype.int64-clamped",
                                     reason: "INT64 constant '\(graph.name(of: input))' holds \(bad), outside INT32: TensorRT before 10.0 casts INT64 down to INT32 clamping to +-INT_MAX, and 10.x takes INT64 only in the layers its matrix lists"))
        }
        return out
    }
}
