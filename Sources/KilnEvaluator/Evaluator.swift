import KilnIR

/// Runs a model's main graph on the CPU.
///
/// Preparing (the initializer) resolves every node's kernel for the model's opsets, so an
/// unsupported operator is reported before anything runs, and converts initializers once; `run`
/// can then be called many times (calibration runs the same model over many inputs).
///
/// ```swift
/// let evaluator = try Evaluator(model: ModelFile.read("model.onnx"))
/// let outputs = try evaluator.run(["x": .tensor(x)])
/// ```
public struct Evaluator: Sendable {
    public let model: Model
    public let options: EvaluatorOptions
    let plan: GraphPlan

    public init(model: Model, registry: KernelRegistry = .standard, options: EvaluatorOptions = EvaluatorOptions()) throws {
        self.model = model
        self.options = options
        _ = AllocatorTuning.applied
        var opsets: [String: Int] = [:]
        for o in model.opsetImports { opsets[o.domain == "ai.onnx" ? "" : o.domain] = Int(o.version) }
        plan = try GraphPlan(graph: model.graph, opsets: opsets, registry: registry, prepare: options.prepareConstants)
    }

    /// Graph inputs the caller must (or may, when they have an initializer) supply, in order.
    public var inputs: [(name: String, type: ValueType?, hasDefault: Bool)] {
        plan.inputs.map { ($0.name, $0.type, $0.hasDefault) }
    }

    /// Graph inputs that are not initializers: what the ONNX test-data layout numbers
    /// `input_0.pb`, `input_1.pb`, ...
    public var requiredInputs: [(name: String, type: ValueType?)] {
        plan.inputs.filter { !$0.hasDefault }.map { ($0.name, $0.type) }
    }

    public var outputNames: [String] { plan.outputs.map(\.name) }

    /// Runs the graph. `inputs` maps graph-input names to values; inputs with an initializer may be
    /// left out. Returns the graph outputs in order. Inputs are checked against their declared
    /// types (element type, rank, static dimensions) and errors name the input.
    public func run(_ inputs: [String: RuntimeValue], observer: Observer? = nil) throws -> [RuntimeValue] {
        let known = Set(plan.inputs.map(\.name))
        for name in inputs.keys where !known.contains(name) {
            throw KilnError(.invalidInput, "'\(name)' is not an input of the graph (inputs: \(plan.inputs.map(\.name).joined(separator: ", ")))")
        }
        var given: [RuntimeValue?] = []
        for input in plan.inputs {
            if let v = inputs[input.name] {
                try Self.check(v, against: input.type, name: input.name)
                given.append(v)
            } else if input.hasDefault {
                given.append(nil)
            } else {
                throw KilnError(.invalidInput, "input '\(input.name)' is missing")
            }
        }
        return try Self.execute(plan, inputs: given, outer: [:], observer: observer, threads: options.threads)
    }

    /// Runs `plan` with `inputs` (nil: keep the initializer) and `outer` (values of enclosing
    /// graphs by name); returns the outputs in order.
    static func execute(_ plan: GraphPlan, inputs: [RuntimeValue?], outer: [String: RuntimeValue],
                        observer: Observer?, threads: Int) throws -> [RuntimeValue] {
        var env = [RuntimeValue?](repeating: nil, count: plan.slotCount)
        for c in plan.constants { env[c.slot] = c.value }
        for (i, input) in plan.inputs.enumerated() where i < inputs.count {
            if let v = inputs[i] { env[input.slot] = v }
        }
        for ref in plan.outerReferences {
            guard let v = outer[ref.name] else {
                throw KilnError(.invalidGraph, "graph '\(plan.name)' reads '\(ref.name)', which no enclosing graph defines")
            }
            env[ref.slot] = v
        }
        for step in plan.steps {
            let node = step.node
            var args: [RuntimeValue?] = []
            args.reserveCapacity(step.inputs.count)
            for slot in step.inputs {
                guard let s = slot else { args.append(nil); continue }
                guard let v = env[s] else {
                    throw KilnError(.invalidGraph, "\(node.label): an input has no value (is it produced by a later node or missing?)")
                        .within(stepLocation(step))
                }
                args.append(v)
            }
            var scope: [String: RuntimeValue] = [:]
            for c in step.captures {
                if c.slot >= 0, let v = env[c.slot] { scope[c.name] = v } else if let v = outer[c.name] { scope[c.name] = v }
            }
            let context = KernelContext(node: node, opsetVersion: step.opsetVersion, inputs: args,
                                        outputUsed: step.outputs.map { $0 != nil },
                                        subgraphs: SubgraphRunner(plans: step.subgraphs, scope: scope, threads: threads),
                                        threads: threads, prepared: step.prepared)
            let results: [RuntimeValue?]
            do {
                results = try step.kernel(context)
            } catch var e as KilnError {
                if !e.message.hasPrefix(node.label) { e.message = "\(node.label): \(e.message)" }
                throw e.within(stepLocation(step))
            }
            for (i, slot) in step.outputs.enumerated() {
                guard let s = slot else { continue }
                guard i < results.count, let v = results[i] else {
                    throw KilnError(.internalError, "\(node.label): the kernel did not produce output \(i)")
                        .within(stepLocation(step))
                }
                env[s] = v
                if let observer, observer.wants(step.outputNames[i]) { observer.observe(step.outputNames[i], v) }
            }
            for s in step.release { env[s] = nil }
        }
        return try plan.outputs.map { o in
            guard let v = env[o.slot] else {
                throw KilnError(.invalidGraph, "graph output '\(o.name)' has no value (nothing produces it)")
            }
            return v
        }
    }

    static func stepLocation(_ step: GraphPlan.Step) -> String {
        "node[\(step.position)](\(step.node.name.isEmpty ? step.node.opType : step.node.name))"
    }

    /// Checks a supplied input against its declared type.
    static func check(_ value: RuntimeValue, against type: ValueType?, name: String) throws {
        guard let type else { return }
        switch (type.kind, value) {
        case (.tensor(let elementType, let shape), .tensor(let t)):
            if let e = elementType, e != .undefined, e != t.dataType {
                throw KilnError(.invalidInput, "input '\(name)' must be \(e.name), got \(t.dataType.name)")
            }
            if let shape {
                guard shape.rank == t.rank else {
                    throw KilnError(.invalidInput, "input '\(name)' must have rank \(shape.rank) \(shape), got shape \(t.shape)")
                }
                for (i, d) in shape.dims.enumerated() {
                    if let v = d.staticValue, v != Int64(t.shape[i]) {
                        throw KilnError(.invalidInput, "input '\(name)' must have dimension \(i) = \(v) \(shape), got shape \(t.shape)")
                    }
                }
            }
        case (.tensor, _):
            throw KilnError(.invalidInput, "input '\(name)' must be a tensor, got \(value)")
        case (.sequence, .sequence), (.optional, .optional), (.optional, .tensor), (.optional, .sequence):
            return
        case (.sequence, _):
            throw KilnError(.invalidInput, "input '\(name)' must be a sequence, got \(value)")
        default:
            return
        }
    }
}

/// Runs a node's subgraphs (If branches, Loop and Scan bodies) with the values they capture.
public struct SubgraphRunner: Sendable {
    let plans: [String: GraphPlan]
    let scope: [String: RuntimeValue]
    var threads = 1

    /// Whether the node has a graph attribute `name`.
    public func has(_ name: String) -> Bool { plans[name] != nil }

    /// Runs the graph attribute `name` with `inputs` (the body's formal inputs, in order).
    public func run(_ name: String, inputs: [RuntimeValue], extraScope: [String: RuntimeValue] = [:]) throws -> [RuntimeValue] {
        guard let plan = plans[name] else {
            throw KilnError(.invalidGraph, "the node has no graph attribute '\(name)'")
        }
        let outer = extraScope.isEmpty ? scope : scope.merging(extraScope) { $1 }
        do {
            return try Evaluator.execute(plan, inputs: inputs, outer: outer, observer: nil, threads: threads)
        } catch let e as KilnError {
            throw e.within(name)
        }
    }
}
