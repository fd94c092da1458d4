import KilnIR
import KilnONNX

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs a directory of ONNX backend node tests (`<case>/model.onnx`,
/// `<case>/test_data_set_N/{input,output}_K.pb`) through the evaluator.
public enum ConformanceSuite {
    public enum Outcome: String, Sendable, Codable {
        case pass, fail, unsupported
    }

    public struct CaseResult: Sendable, Codable {
        public var name: String
        /// The operator the case is counted under: the missing operator when unsupported, else the
        /// op type of the main graph's last node.
        public var op: String
        public var outcome: Outcome
        public var detail: String?
    }

    public struct Report: Sendable, Codable {
        public var schema = 1
        public var suite: String
        public var tolerance: Tolerance
        public var total: Int
        public var passed: Int
        public var failed: Int
        public var unsupported: Int
        public var cases: [CaseResult]

        /// Per operator: (pass, fail, unsupported), sorted by operator.
        public var byOperator: [(op: String, pass: Int, fail: Int, unsupported: Int)] {
            var table: [String: (Int, Int, Int)] = [:]
            for c in cases {
                var row = table[c.op, default: (0, 0, 0)]
                switch c.outcome {
                case .pass: row.0 += 1
                case .fail: row.1 += 1
                case .unsupported: row.2 += 1
                }
                table[c.op] = row
            }
            return table.keys.sorted().map { (op: $0, pass: table[$0]!.0, fail: table[$0]!.1, unsupported: table[$0]!.2) }
        }
    }

    /// The case folders of `directory` (those holding a `model.onnx`), sorted.
    public static func caseNames(in directory: String) throws -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else {
            throw KilnError(.io, "cannot list the suite directory", at: .init(file: directory))
        }
        return names.filter { fm.fileExists(atPath: "\(directory)/\($0)/model.onnx") }.sorted()
    }

    /// Runs every case whose name contains one of `filters` (all when empty).
    public static func run(directory: String, filters: [String] = [], tolerance: Tolerance = .onnx,
                           registry: KernelRegistry = .standard) throws -> Report {
        var cases: [CaseResult] = []
        for name in try caseNames(in: directory) where filters.isEmpty || filters.contains(where: { name.contains($0) }) {
            cases.append(runCase(directory: "\(directory)/\(name)", name: name, tolerance: tolerance, registry: registry))
        }
        let count = { (o: Outcome) in cases.filter { $0.outcome == o }.count }
        return Report(suite: directory, tolerance: tolerance, total: cases.count, passed: count(.pass), failed: count(.fail),
                      unsupported: count(.unsupported), cases: cases)
    }

    /// Runs one case folder.
    public static func runCase(directory: String, name: String, tolerance: Tolerance, registry: KernelRegistry) -> CaseResult {
        var op = "?"
        do {
            let model = try ModelFile.read("\(directory)/model.onnx")
            if let last = model.graph.order.last { op = qualifiedOp(model.graph[node: last]) }
            let evaluator: Evaluator
            do {
                evaluator = try Evaluator(model: model, registry: registry)
            } catch let e as KilnError where e.code == .unsupported {
                if let missing = missingOperator(e.message) { op = missing }
                return CaseResult(name: name, op: op, outcome: .unsupported, detail: e.description)
            }
            let sets = (try FileManager.default.contentsOfDirectory(atPath: directory))
                .filter { $0.hasPrefix("test_data_set_") }.sorted()
            guard !sets.isEmpty else { return CaseResult(name: name, op: op, outcome: .fail, detail: "no test_data_set_* folder") }
            for set in sets {
                let dir = "\(directory)/\(set)"
                let inputs = try TestData.readInputs(dir, evaluator: evaluator)
                let outputs = try evaluator.run(inputs)
                let expected = try TestData.readOutputs(dir, model: model)
                guard expected.count <= outputs.count else {
                    return CaseResult(name: name, op: op, outcome: .fail,
                                      detail: "\(set): \(expected.count) expected outputs, the graph has \(outputs.count)")
                }
                for (i, e) in expected.enumerated() {
                    if let m = ValueComparison.mismatch(expected: e, actual: outputs[i], tolerance: tolerance) {
                        return CaseResult(name: name, op: op, outcome: .fail, detail: "\(set): output \(i) (\(evaluator.outputNames[i])): \(m)")
                    }
                }
            }
            return CaseResult(name: name, op: op, outcome: .pass, detail: nil)
        } catch let e as KilnError {
            return CaseResult(name: name, op: op, outcome: e.code == .unsupported ? .unsupported : .fail, detail: e.description)
        } catch {
            return CaseResult(name: name, op: op, outcome: .fail, detail: "\(error)")
        }
    }

    static func qualifiedOp(_ node: Node) -> String {
        node.domain.isEmpty || node.domain == "ai.onnx" ? node.opType : "\(node.domain).\(node.opType)"
    }

    /// The operator named by a "no kernel for OP (domain ...)" message.
    static func missingOperator(_ message: String) -> String? {
        guard let r = message.range(of: "no kernel for ") else { return nil }
        let rest = message[r.upperBound...]
        let op = rest.prefix { $0 != " " }
        if let d = rest.range(of: "domain '"), let end = rest[d.upperBound...].firstIndex(of: "'") {
            let domain = rest[d.upperBound..<end]
            if domain != "ai.onnx" { return "\(domain).\(op)" }
        }
        return String(op)
    }
}

/// The ONNX test-data layout: `input_N.pb` in graph-input order (initializers excluded) and
/// `output_N.pb` in graph-output order.
public enum TestData {
    public static func readInputs(_ dir: String, evaluator: Evaluator) throws -> [String: RuntimeValue] {
        var inputs: [String: RuntimeValue] = [:]
        let required = evaluator.requiredInputs
        let all = evaluator.inputs
        var i = 0
        while FileManager.default.fileExists(atPath: "\(dir)/input_\(i).pb") {
            guard i < all.count else {
                throw KilnError(.invalidInput, "input_\(i).pb has no graph input to go to (the graph has \(all.count))", at: .init(file: dir))
            }
            let target = i < required.count ? (required[i].name, required[i].type) : (all[i].name, all[i].type)
            inputs[target.0] = try ValueFile.read("\(dir)/input_\(i).pb", type: target.1).value
            i += 1
        }
        return inputs
    }

    public static func readOutputs(_ dir: String, model: Model) throws -> [RuntimeValue] {
        var outputs: [RuntimeValue] = []
        let graph = model.graph
        var i = 0
        while FileManager.default.fileExists(atPath: "\(dir)/output_\(i).pb") {
            let type = i < graph.outputs.count ? graph[value: graph.outputs[i]].type : nil
            outputs.append(try ValueFile.read("\(dir)/output_\(i).pb", type: type).value)
            i += 1
        }
        return outputs
    }
}
