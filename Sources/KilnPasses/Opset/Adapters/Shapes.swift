import KilnIR

/// Reshape, Shape, Constant, DepthToSpace/SpaceToDepth, GatherND, ArgMax/ArgMin, GridSample,
/// RoiAlign, DFT, OptionalHasElement, NegativeLogLikelihoodLoss.
///
/// Cases:
/// 1. Reshape-14 `allowzero`: down, allowzero = 1 is dropped when the shape is a constant without
///    zeros (both meanings agree), else refused.
/// 2. Shape-15 `start`/`end`: down, Shape followed by Slice over axis 0.
/// 3. Constant-12 `value_int(s)`/`value_float(s)`: down, a `value` tensor; strings refused.
///    Constant-11 `sparse_value`: refused down.
/// 4. Neutral attributes added (DepthToSpace-11 mode DCR, SpaceToDepth-28 mode DCR, GatherND-12
///    batch_dims 0, ArgMax/ArgMin-12 select_last_index 0): refused down when used.
/// 5. GridSample-20 renamed modes (bilinear -> linear, bicubic -> cubic) and allowed N-D input:
///    renamed both ways; down refuses inputs that are not 4-D.
/// 6. RoiAlign-16 added coordinate_transformation_mode whose default (half_pixel) is not the old
///    behaviour (output_half_pixel): up writes output_half_pixel; down accepts only it.
/// 7. DFT-20 turned `axis` into an input (default -2 instead of 1): up writes the old axis as an
///    input; down needs a constant axis, normalized against the rank.
/// 8. OptionalHasElement-18 accepts a plain tensor or sequence and an empty input: down refuses both.
extension OpsetAdapters {
    static var shapes: [OpsetRule] {
        var rules: [OpsetRule] = [
            .unchanged("Reshape", 14, .up, "allowzero defaults to 0, the old meaning (case 1)"),
            .adapter("Reshape", 14, .down, "allowzero = 1 dropped when the shape has no zeros (case 1)") { rw, id in
                if try rw.int(id, "allowzero", default: 0) != 0 {
                    guard let shape = try rw.constantInts(id, 1), !shape.contains(0) else {
                        throw rw.refusal(id, "allowzero = 1 with a shape that may hold 0 has no equivalent before opset 14")
                    }
                }
                rw.removeAttribute(id, "allowzero")
            },
            .unchanged("Shape", 15, .up, "start/end default to the whole shape (case 2)"),
            .adapter("Shape", 15, .down, "start/end -> Shape + Slice (case 2)") { rw, id in
                let start = try rw.int(id, "start", default: 0)
                let end = rw.graph[node: id].attribute("end") != nil ? try rw.int(id, "end") : Int64.max
                rw.removeAttribute(id, "start")
                rw.removeAttribute(id, "end")
                guard start != 0 || end != Int64.max else { return }
                let base = rw.graph[node: id].name
                let s = try rw.addInts([start], named: "\(base)_start", before: id)
                let e = try rw.addInts([end], named: "\(base)_end", before: id)
                let a = try rw.addInts([0], named: "\(base)_axis", before: id)
                let (old, full) = try rw.detachOutput(id, 0, named: "\(base)_full")
                try rw.addNode("Slice", [full, s, e, a], producing: [old], named: "\(base)_slice", after: id)
            },
            .unchanged("Constant", 12, .up, "adds value_int(s)/value_float(s)/value_string(s) (case 3)"),
            .adapter("Constant", 12, .down, "value_int(s)/value_float(s) -> value tensor (case 3)") { rw, id in
                guard let a = rw.graph[node: id].attributes.first else { return }
                if let ref = a.refAttrName { throw rw.refusal(id, "\(a.name) refers to function attribute '\(ref)', which a value tensor cannot") }
                let tensor: Tensor
                switch (a.name, a.value) {
                case ("value_int", .int(let i)): tensor = .int64([i], dims: [])
                case ("value_ints", .ints(let i)): tensor = .int64(i, dims: [Int64(i.count)])
                case ("value_float", .float(let f)): tensor = .float32([f], dims: [])
                case ("value_floats", .floats(let f)): tensor = .float32(f, dims: [Int64(f.count)])
                case ("value_string", _), ("value_strings", _):
                    throw rw.refusal(id, "\(a.name) has no equivalent before opset 12 here")
                default: return
                }
                rw.graph[node: id].attributes = [Attribute("value", .tensor(tensor))]
            },
            .unchanged("Constant", 11, .up, "adds sparse_value (case 3)"),
            .unchanged("Constant", 11, .down, "refuses sparse_value (case 3)") { rw, id in
                if rw.graph[node: id].attribute("sparse_value") != nil {
                    throw rw.refusal(id, "sparse_value does not exist before opset 11")
                }
            },
            .adapter("GridSample", 20, .up, "modes renamed bilinear -> linear, bicubic -> cubic (case 5)") { rw, id in
                let mode = try rw.string(id, "mode", default: "bilinear")
                rw.setAttribute(id, "mode", .string(Array((["bilinear": "linear", "bicubic": "cubic"][mode] ?? mode).utf8)))
            },
            .adapter("GridSample", 20, .down, "modes renamed back; 4-D input only (case 5)") { rw, id in
                let mode = try rw.string(id, "mode", default: "linear")
                rw.setAttribute(id, "mode", .string(Array((["linear": "bilinear", "cubic": "bicubic"][mode] ?? mode).utf8)))
                if let r = rw.rank(rw.input(id, 0)), r != 4 { throw rw.refusal(id, "a \(r)-D input needs GridSample-20") }
            },
            .adapter("RoiAlign", 16, .up, "output_half_pixel written out (case 6)") { rw, id in
                rw.setAttribute(id, "coordinate_transformation_mode", .string(Array("output_half_pixel".utf8)))
            },
            .adapter("RoiAlign", 16, .down, "only output_half_pixel converts (case 6)") { rw, id in
                let mode = try rw.string(id, "coordinate_transformation_mode", default: "half_pixel")
                guard mode == "output_half_pixel" else {
                    throw rw.refusal(id, "coordinate_transformation_mode '\(mode)' has no equivalent before opset 16")
                }
                rw.removeAttribute(id, "coordinate_transformation_mode")
            },
            .adapter("DFT", 20, .up, "axis attribute -> int64 input (case 7)") { rw, id in
                let axis = try rw.int(id, "axis", default: 1)
                rw.removeAttribute(id, "axis")
                rw.setInput(id, 2, try rw.addInts([axis], named: "\(rw.graph[node: id].name)_axis", before: id, scalar: true))
            },
            .adapter("DFT", 20, .down, "constant axis input -> attribute (case 7)") { rw, id in
                var axis: Int64 = -2
                if let v = rw.input(id, 2) {
                    guard let a = try rw.constantInts(id, 2), a.count == 1 else {
                        throw rw.refusal(id, "axis input '\(rw.graph.name(of: v))' must be a constant before opset 20")
                    }
                    axis = a[0]
                }
                if axis < 0 { axis += Int64(try rw.requireRank(id, 0, for: "normalizing axis \(axis)")) }
                rw.clearInput(id, 2)
                rw.setAttribute(id, "axis", .int(axis))
            },
            .unchanged("OptionalHasElement", 18, .up, "opset 18 also accepts tensors, sequences and an empty input (case 8)"),
            .unchanged("OptionalHasElement", 18, .down, "refuses an empty or non-optional input (case 8)") { rw, id in
                guard let v = rw.input(id, 0) else { throw rw.refusal(id, "an empty input needs opset 18") }
                if let t = rw.type(v), case .optional = t.kind {} else {
                    throw rw.refusal(id, "a non-optional (or untyped) input needs opset 18")
                }
            },
        ]
        rules += OpsetRule.attributesAdded("DepthToSpace", 11, [("mode", .string(Array("DCR".utf8)))], "CRD mode (case 4)")
        rules += OpsetRule.attributesAdded("SpaceToDepth", 28, [("mode", .string(Array("DCR".utf8)))], "CRD mode (case 4)")
        rules += OpsetRule.attributesAdded("GatherND", 12, [("batch_dims", .int(0))], "batch dimensions (case 4)")
        rules += OpsetRule.attributesAdded("ArgMax", 12, [("select_last_index", .int(0))], "last index of ties (case 4)")
        rules += OpsetRule.attributesAdded("ArgMin", 12, [("select_last_index", .int(0))], "last index of ties (case 4)")
        rules += OpsetRule.typesChecked("NegativeLogLikelihoodLoss", 13, "type constraints regrouped")
        return rules
    }
}
