import KilnIR

/// If and Loop: subgraphs run through `KernelContext.subgraphs`, which hands them the values they
/// capture from enclosing graphs.
enum ControlFlowKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("If", since: 1) { ctx in
            guard let c = try ctx.tensor(0).elements(as: Bool.self), c.count == 1 else {
                throw ctx.error("cond must be a single bool")
            }
            return try ctx.subgraphs.run(c[0] ? "then_branch" : "else_branch", inputs: []).map { $0 }
        }
        r.register("Loop", since: 1) { ctx in
            let maxTrips = try ctx.optionalTensor(0)?.int64s.first
            var cond = try ctx.optionalTensor(1)?.elements(as: Bool.self)?.first ?? true
            var carried: [RuntimeValue] = try (2..<ctx.inputs.count).map {
                guard let v = ctx.inputs[$0] else { throw ctx.error("loop-carried input \($0) is missing") }
                return v
            }
            var scans: [[TensorValue]] = []
            var trip: Int64 = 0
            while cond && (maxTrips == nil || trip < maxTrips!) {
                let out = try ctx.subgraphs.run("body", inputs: [.tensor(.scalar(trip)), .tensor(.scalar(cond))] + carried)
                guard out.count >= 1 + carried.count else { throw ctx.error("the body returns \(out.count) values, needs at least \(1 + carried.count)") }
                guard let c = out[0].tensor?.elements(as: Bool.self)?.first else { throw ctx.error("the body's condition output must be a bool") }
                cond = c
                carried = Array(out[1..<(1 + carried.count)])
                let scanned = out[(1 + carried.count)...]
                if scans.isEmpty { scans = Array(repeating: [], count: scanned.count) }
                for (j, v) in scanned.enumerated() {
                    guard let t = v.tensor else { throw ctx.unsupported("scan outputs that are not tensors are not supported") }
                    scans[j].append(t)
                }
                trip += 1
            }
            let scanCount = ctx.outputCount - carried.count
            var results: [RuntimeValue?] = carried.map { $0 }
            for j in 0..<scanCount {
                let parts = j < scans.count ? scans[j] : []
                if !parts.isEmpty {
                    results.append(.tensor(try MovementKernels.concat(parts.map { $0.reshaped([1] + $0.shape) }, axis: 0)))
                } else {
                    // No iteration ran: the element type and shape are unknown here; an empty float tensor.
                    results.append(.tensor(TensorValue(shape: [0], elements: ContiguousArray<Float>())))
                }
            }
            return results
        }
    }
}
