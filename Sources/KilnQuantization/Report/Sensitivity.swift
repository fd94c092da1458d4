import KilnIR

#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

/// `--max-drop X`: keep the most sensitive layers in float until `1 - cosine` (worst output, mean over
/// samples; see `AccuracyMeter`) is at most X.
///
/// 1. Fully quantized within the budget: nothing is kept in float.
/// 2. Ranking. With at most `oneAtATimeLimit` quantized layers, each layer alone is kept in float and the
///    metric measured again: its gain is how much that lowers `1 - cosine` (most gain first). With more
///    layers, layers are ranked by their SQNR in the fully quantized model (lowest first), which needs no
///    extra runs.
/// 3. Layers are added to `config.excludeNodes` in that order, one at a time, re-emitting and measuring
///    after each, until the metric is within the budget. At least one layer stays quantized.
/// 4. Still over the budget: `KilnError(.checkFailed)` (exit 1) with the best value reached.
enum Sensitivity {
    struct Fit {
        var model: Model
        var emit: EmitReport
        var config: QuantizationConfig
        var accuracy: QuantizationReport.Accuracy
        var kept: [QuantizationReport.KeptLayer]
    }

    static func fit(model: Model, config: QuantizationConfig, table: CalibrationTable?, meter: inout AccuracyMeter,
                    first: (model: Model, emit: EmitReport, accuracy: QuantizationReport.Accuracy), budget: Double,
                    oneAtATimeLimit: Int) throws -> Fit {
        if first.accuracy.drop <= budget {
            return Fit(model: first.model, emit: first.emit, config: config, accuracy: first.accuracy, kept: [])
        }
        let layers = first.emit.quantizedNodes
        var opTypes: [String: String] = [:]
        for (_, n) in model.graph.nodes where !n.name.isEmpty { opTypes[n.name] = n.opType }
        var sqnr: [String: Double] = [:]
        for l in first.accuracy.layers { if let s = l.sqnr { sqnr[l.node] = min(sqnr[l.node] ?? .infinity, s) } }

        var ranked: [(node: String, gain: Double?)] = []
        if layers.count > 1 && layers.count <= oneAtATimeLimit {
            for node in layers {
                var alone = config
                alone.excludeNodes.insert(node)
                let (m, e) = try Quantizer.emitChecked(model, config: alone, table: table)
                let drop = try meter.measure(quantized: m, emit: e, layers: false).drop
                ranked.append((node, first.accuracy.drop - drop))
            }
            ranked.sort { ($0.gain ?? 0) > ($1.gain ?? 0) }
        } else {
            ranked = layers.map { ($0, nil) }.sorted { (sqnr[$0.node] ?? .infinity) < (sqnr[$1.node] ?? .infinity) }
        }

        var current = config
        var kept: [QuantizationReport.KeptLayer] = []
        var best = first.accuracy.drop
        for r in ranked where kept.count + 1 < layers.count {
            current.excludeNodes.insert(r.node)
            let (m, e) = try Quantizer.emitChecked(model, config: current, table: table)
            let accuracy = try meter.measure(quantized: m, emit: e, layers: false)
            best = min(best, accuracy.drop)
            let why = r.gain.map { String(format: "alone in float it lowers 1 - cosine by %.3g (one-layer-at-a-time)", $0) }
                ?? sqnr[r.node].map { String(format: "SQNR %.1f dB, among the lowest", $0) } ?? "ranked by SQNR"
            kept.append(.init(node: r.node, opType: opTypes[r.node] ?? "", gain: r.gain, sqnr: sqnr[r.node],
                              reason: why + String(format: "; 1 - cosine is %.3g with %d layer(s) in float", accuracy.drop, kept.count + 1)))
            if accuracy.drop <= budget {
                let full = try meter.measure(quantized: m, emit: e, layers: true)
                return Fit(model: m, emit: e, config: current, accuracy: full, kept: kept)
            }
        }
        throw KilnError(.checkFailed, String(format: "--max-drop %g cannot be met: 1 - cosine is %.4g fully quantized and "
                                             + "%.4g at best with %d of %d quantized layer(s) kept in float; nothing written",
                                             budget, first.accuracy.drop, best, kept.count, layers.count))
    }
}
