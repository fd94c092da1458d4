import KilnIR

/// If, Loop and Scan: subgraphs run through `KernelContext.subgraphs`, which hands them the values they
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
        // Scan (9 on): N state variables, then M scan inputs sliced along `scan_input_axes` (reversed
        // where `scan_input_directions` is 1); the body maps (states, slices) to (states, K per-step
        // outputs), which are stacked along `scan_output_axes` (reversed where the direction is 1).
        r.register("Scan", since: 9) { ctx in
            let m = try ctx.int("num_scan_inputs")
            let all: [RuntimeValue] = try ctx.inputs.enumerated().map { i, v in
                guard let v else { throw ctx.error("input \(i) is missing") }
                return v
            }
            let n = all.count - m
            guard m >= 1, n >= 0 else { throw ctx.error("num_scan_inputs \(m) does not fit \(all.count) inputs") }
            var states = Array(all[..<n])
            let scanned: [TensorValue] = try all[n...].map {
                guard let t = $0.tensor else { throw ctx.error("scan inputs must be tensors") }
                return t
            }
            let inAxes = try (ctx.ints("scan_input_axes") ?? [Int](repeating: 0, count: m)).enumerated().map {
                try ctx.axis($0.element, rank: scanned[$0.offset].rank, name: "scan_input_axes")
            }
            let inDirections = try ctx.ints("scan_input_directions") ?? [Int](repeating: 0, count: m)
            guard inAxes.count == m, inDirections.count == m else { throw ctx.error("scan input attributes must have \(m) entries") }
            let steps = scanned[0].shape[inAxes[0]]
            for (t, a) in zip(scanned, inAxes) where t.shape[a] != steps {
                throw ctx.error("scan inputs differ in length along their scan axes (\(t.shape[a]) and \(steps))")
            }
            let k = ctx.outputCount - n
            var collected = [[TensorValue]](repeating: [], count: max(k, 0))
            for step in 0..<steps {
                var args = states
                for (j, t) in scanned.enumerated() {
                    let at = inDirections[j] == 1 ? steps - 1 - step : step
                    let slice = try MovementKernels.slice(t, starts: [at], ends: [at + 1], axes: [inAxes[j]], steps: nil, ctx)
                    var shape = slice.shape
                    shape.remove(at: inAxes[j])
                    args.append(.tensor(slice.reshaped(shape)))
                }
                let out = try ctx.subgraphs.run("body", inputs: args)
                guard out.count == n + k else { throw ctx.error("the body returns \(out.count) values, expected \(n + k)") }
                states = Array(out[..<n])
                for j in 0..<k {
                    guard let t = out[n + j].tensor else { throw ctx.error("scan output \(j) must be a tensor") }
                    collected[j].append(t)
                }
            }
            let outDirections = try ctx.ints("scan_output_directions") ?? [Int](repeating: 0, count: k)
            let outAxesRaw = try ctx.ints("scan_output_axes") ?? [Int](repeating: 0, count: k)
            var results: [RuntimeValue?] = states.map { $0 }
            for j in 0..<k {
                var parts = collected[j]
                guard let first = parts.first else {
                    throw ctx.unsupported("a scan with zero iterations (output element types unknown)")
                }
                if j < outDirections.count && outDirections[j] == 1 { parts.reverse() }
                let axis = try ctx.axis(j < outAxesRaw.count ? outAxesRaw[j] : 0, rank: first.rank + 1, name: "scan_output_axes")
                let expanded = parts.map { $0.reshaped(Array($0.shape[..<axis]) + [1] + Array($0.shape[axis...])) }
                results.append(.tensor(try MovementKernels.concat(expanded, axis: axis)))
            }
            return results
        }
    }
}
