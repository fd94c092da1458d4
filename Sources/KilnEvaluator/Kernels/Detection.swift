import KilnIR

/// NonMaxSuppression (opset 10): per batch and class, boxes scoring above `score_threshold` (when
/// given) are taken best score first (ties: lower box index first); a box is kept unless its IoU
/// with a box already kept for that class exceeds `iou_threshold`; at most
/// `max_output_boxes_per_class` per class (0 or absent: none). Boxes are corners `[y1, x1, y2, x2]`
/// in either order (`center_point_box` 0) or `[x_center, y_center, width, height]` (1).
/// Output: `[selected, 3]` int64 rows `(batch, class, box)`.
enum DetectionKernels {
    static func register(into r: inout KernelRegistry) {
        r.register("NonMaxSuppression", since: 10) { ctx in
            let boxes = try ctx.tensor(0), scores = try ctx.tensor(1)
            guard boxes.rank == 3, boxes.shape[2] == 4, scores.rank == 3, scores.shape[0] == boxes.shape[0],
                  scores.shape[2] == boxes.shape[1] else {
                throw ctx.error("boxes must be [batch, boxes, 4] and scores [batch, classes, boxes], got \(boxes.shape) and \(scores.shape)")
            }
            let maxOut = try ctx.integers(2)?.first ?? 0
            let iouThreshold = try ctx.optionalTensor(3)?.doubles.first ?? 0
            let scoreThreshold = try ctx.optionalTensor(4)?.doubles.first
            let centered = try ctx.int("center_point_box", default: 0) != 0
            let (batches, classes, count) = (scores.shape[0], scores.shape[1], scores.shape[2])
            let b = boxes.doubles, s = scores.doubles
            // Corners (yMin, xMin, yMax, xMax) of box i in batch n.
            func corners(_ n: Int, _ i: Int) -> (Double, Double, Double, Double) {
                let o = (n * count + i) * 4
                if centered {
                    let (xc, yc, w, h) = (b[o], b[o + 1], b[o + 2], b[o + 3])
                    return (yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2)
                }
                return (min(b[o], b[o + 2]), min(b[o + 1], b[o + 3]), max(b[o], b[o + 2]), max(b[o + 1], b[o + 3]))
            }
            func suppresses(_ n: Int, _ i: Int, _ j: Int) -> Bool {
                let p = corners(n, i), q = corners(n, j)
                let ix = min(p.3, q.3) - max(p.1, q.1), iy = min(p.2, q.2) - max(p.0, q.0)
                guard ix > 0, iy > 0 else { return false }
                let inter = ix * iy
                let a1 = (p.2 - p.0) * (p.3 - p.1), a2 = (q.2 - q.0) * (q.3 - q.1)
                let union = a1 + a2 - inter
                guard a1 > 0, a2 > 0, union > 0 else { return false }
                return inter / union > iouThreshold
            }
            var selected: [Int64] = []
            for n in 0..<batches {
                for c in 0..<classes {
                    let base = (n * classes + c) * count
                    var candidates = (0..<count).filter { scoreThreshold == nil || s[base + $0] > scoreThreshold! }
                    candidates.sort { s[base + $0] != s[base + $1] ? s[base + $0] > s[base + $1] : $0 < $1 }
                    var kept: [Int] = []
                    for i in candidates where kept.count < maxOut {
                        if kept.contains(where: { suppresses(n, i, $0) }) { continue }
                        kept.append(i)
                        selected += [Int64(n), Int64(c), Int64(i)]
                    }
                }
            }
            return KernelContext.one(TensorValue(shape: [selected.count / 3, 3], selected))
        }
    }
}
