import Testing
import KilnIR
import KilnONNX
import KilnEvaluator
import KilnAnalysis
import KilnTestSupport
@testable import KilnQuantization

/// Real models from Fixtures/, read by the codec, converted, and run in the evaluator (which runs
/// float16 and bfloat16 kernels in those types): outputs within 1e-2 (float16) or 5e-2 (bfloat16)
/// of the float32 model, by max |a - b| / max |a|. The checker finds nothing new.
@Suite struct PrecisionFixtureTests {
    static let repo: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    /// Deterministic inputs: floats from `sample`, integer inputs (token ids, masks) in [0, 2).
    func feeds(_ model: Model, batch: Int64 = 2, sequence: Int64 = 7) -> [String: TensorValue] {
        var out: [String: TensorValue] = [:]
        for id in model.graph.inputs where !model.graph.isConstant(id) {
            guard let type = model.graph[value: id].type, let shape = type.tensorShape else { continue }
            let dims = shape.dims.map { d -> Int in
                switch d {
                case .value(let v): return Int(v)
                case .symbol(let s): return Int(s == "sequence" ? sequence : batch)
                case .unknown: return Int(batch)
                }
            }
            let n = dims.reduce(1, *)
            if type.tensorElementType == .bool {
                out[model.graph.name(of: id)] = TensorValue(shape: dims, (0..<n).map { $0 % 2 == 0 })
            } else if type.tensorElementType == .int64 {
                out[model.graph.name(of: id)] = TensorValue(shape: dims, (0..<n).map { Int64(($0 * 7 + 3) % 2) })
            } else {
                out[model.graph.name(of: id)] = sample(dims)
            }
        }
        return out
    }

    @Test(arguments: ["mlp.onnx", "cnn.onnx", "control_flow.onnx", "optimize/resnet_block.onnx",
                      "optimize/transformer_opset17.onnx", "optimize/transformer_opset23.onnx", "optimize/control_flow.onnx"])
    func float16MatchesFloat32(_ file: String) throws {
        let original = try ModelFile.read("\(Self.repo)/Fixtures/\(file)")
        for keep in [false, true] {
            let (m, report) = try precisionConverted(original, PrecisionOptions(keepIOTypes: keep))
            #expect(report.tensorsConverted > 0)
            let before = Set(Checker().check(original).issues.map(\.description))
            let after = Checker().check(m).issues.filter { !before.contains($0.description) }
            #expect(after.isEmpty, "\(after.prefix(3))")
            try expectPrecisionClose(original, m, feeds(original))
        }
    }

    @Test(arguments: ["mlp.onnx", "cnn.onnx", "optimize/resnet_block.onnx", "optimize/transformer_opset17.onnx"])
    func bfloat16MatchesFloat32(_ file: String) throws {
        let original = try ModelFile.read("\(Self.repo)/Fixtures/\(file)")
        let (m, _) = try precisionConverted(original, PrecisionOptions(target: .bfloat16, keepIOTypes: true))
        #expect(Checker().check(m).issues.isEmpty)
        try expectPrecisionClose(original, m, feeds(original), tolerance: 5e-2)
    }

    @Test func transformerKeepsDecomposedVarianceInFloat32() throws {
        let original = try ModelFile.read("\(Self.repo)/Fixtures/optimize/transformer_opset17.onnx")
        let (_, r) = try precisionConverted(original)
        // Pow(x, 2) -> ReduceMean of each decomposed LayerNorm, and GELU's Pow(x, 3).
        #expect(Dictionary(grouping: r.kept, by: \.op).mapValues(\.count) == ["Pow": 6, "ReduceMean": 5])
        #expect(r.castsInserted == 12)
    }
}
