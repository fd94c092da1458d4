import KilnIR

/// Upsample and Resize.
///
/// Cases:
/// 1. Upsample-9 turned `scales` into an input: up, a float constant input; down, constant -> attribute.
/// 2. Upsample was removed at 10 in favour of Resize-10, which means the same (asymmetric
///    coordinates, floor for nearest): up renames Upsample -> Resize; down across Resize's
///    introduction renames back.
/// 3. Resize-11 added `roi`, `sizes` and the coordinate/nearest/cubic attributes: up, an empty
///    roi is inserted and the old meaning is written out (coordinate_transformation_mode
///    asymmetric, nearest_mode floor); down, only that meaning converts (and no cubic mode, no
///    tf_crop_and_resize, no exclude_outside); `sizes` becomes scales when the input's static
///    size divides exactly, else refused.
/// 4. Resize-13 made roi/scales optional and dropped tf_half_pixel_for_nn: up refuses that mode;
///    down fills empty roi/scales with empty float constants (Resize-11 needs the slots).
/// 5. Resize-18 added antialias, axes and keep_aspect_ratio_policy; 19 added
///    half_pixel_symmetric: down refuses any of them when used.
extension OpsetAdapters {
    static var resize: [OpsetRule] {
        var rules: [OpsetRule] = [
            .adapter("Upsample", 9, .up, "scales attribute -> float constant input (case 1)") { rw, id in
                let scales = try rw.graph[node: id].floats("scales")
                rw.removeAttribute(id, "scales")
                rw.setInput(id, 1, try rw.addConstant(.float32(scales, dims: [Int64(scales.count)]),
                                                      named: "\(rw.graph[node: id].name)_scales", before: id))
            },
            .adapter("Upsample", 9, .down, "constant scales input -> attribute (case 1)") { rw, id in
                guard let v = rw.input(id, 1), let scales = try rw.constantDoubles(v) else {
                    throw rw.refusal(id, "scales must be a constant to become an attribute before opset 9")
                }
                rw.setAttribute(id, "scales", .floats(scales.map(Float.init)))
                rw.clearInput(id, 1)
            },
            .adapter("Upsample", 10, .up, "renamed Resize, same meaning (case 2)") { rw, id in
                rw.graph[node: id].opType = "Resize"
            },
            .expansion("Resize", 10, "renamed Upsample, same meaning (case 2)") { rw, id in
                rw.graph[node: id].opType = "Upsample"
            },
            .adapter("Resize", 11, .up, "empty roi inserted; asymmetric/floor written out (case 3)") { rw, id in
                let mode = try rw.string(id, "mode", default: "nearest")
                rw.setAttribute(id, "coordinate_transformation_mode", .string(Array("asymmetric".utf8)))
                if mode == "nearest" { rw.setAttribute(id, "nearest_mode", .string(Array("floor".utf8))) }
                let scales = rw.input(id, 1)
                let roi = try rw.addConstant(.float32([], dims: [0]), named: "\(rw.graph[node: id].name)_roi", before: id)
                rw.setInputs(id, [rw.input(id, 0), roi, scales])
            },
            .adapter("Resize", 11, .down, "only asymmetric/floor converts; sizes -> exact scales (case 3)") { rw, id in
                let mode = try rw.string(id, "mode", default: "nearest")
                let ctm = try rw.string(id, "coordinate_transformation_mode", default: "half_pixel")
                guard mode == "nearest" || mode == "linear" else { throw rw.refusal(id, "mode '\(mode)' does not exist before opset 11") }
                guard ctm == "asymmetric" else {
                    throw rw.refusal(id, "coordinate_transformation_mode '\(ctm)' has no equivalent before opset 11 (Resize-10 is asymmetric)")
                }
                if mode == "nearest", try rw.string(id, "nearest_mode", default: "round_prefer_floor") != "floor" {
                    throw rw.refusal(id, "nearest_mode other than 'floor' has no equivalent before opset 11")
                }
                if try rw.int(id, "exclude_outside", default: 0) != 0 { throw rw.refusal(id, "exclude_outside = 1 does not exist before opset 11") }
                var scales = rw.input(id, 2)
                if let sv = scales, let s = try rw.constantDoubles(sv), s.isEmpty { scales = nil }
                if scales == nil {
                    guard let sizes = try rw.constantInts(id, 3), let dims = rw.shape(rw.input(id, 0))?.dims,
                          dims.count == sizes.count, dims.allSatisfy({ $0.staticValue != nil }) else {
                        throw rw.refusal(id, "sizes needs constant sizes and a static input shape to become scales before opset 11")
                    }
                    var values: [Float] = []
                    for (d, s) in zip(dims.map { $0.staticValue! }, sizes) {
                        let scale = Float(s) / Float(d)
                        guard Int64((Float(d) * scale).rounded(.down)) == s else {
                            throw rw.refusal(id, "size \(s) is not reached exactly from \(d) by a float scale")
                        }
                        values.append(scale)
                    }
                    scales = try rw.addConstant(.float32(values, dims: [Int64(values.count)]), named: "\(rw.graph[node: id].name)_scales", before: id)
                }
                for a in ["coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside", "extrapolation_value"] {
                    rw.removeAttribute(id, a)
                }
                rw.setInputs(id, [rw.input(id, 0), scales])
            },
            .unchanged("Resize", 13, .up, "refuses tf_half_pixel_for_nn, removed at 13 (case 4)") { rw, id in
                if try rw.string(id, "coordinate_transformation_mode", default: "half_pixel") == "tf_half_pixel_for_nn" {
                    throw rw.refusal(id, "coordinate_transformation_mode 'tf_half_pixel_for_nn' was removed at opset 13")
                }
            },
            .adapter("Resize", 13, .down, "empty roi/scales slots filled with empty constants (case 4)") { rw, id in
                for slot in [1, 2] where rw.input(id, slot) == nil {
                    let c = try rw.addConstant(.float32([], dims: [0]), named: "\(rw.graph[node: id].name)_\(slot == 1 ? "roi" : "scales")", before: id)
                    rw.setInput(id, slot, c)
                }
            },
        ]
        rules += OpsetRule.attributesAdded("Resize", 18, [("antialias", .int(0)), ("axes", nil),
                                                 ("keep_aspect_ratio_policy", .string(Array("stretch".utf8)))],
                                  "antialiasing, axes and aspect-ratio policies (case 5)")
        rules += OpsetRule.valueAdded("Resize", 19, attribute: "coordinate_transformation_mode", values: ["half_pixel_symmetric"],
                             "coordinate mode half_pixel_symmetric (case 5)")
        return rules
    }
}
