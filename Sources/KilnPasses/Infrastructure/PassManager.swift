import KilnIR
import KilnAnalysis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a pipeline of passes to a fixed point: the whole list again and again until a round changes
/// nothing, at most `maxRounds` rounds. Re-runs shape inference before a pass that needs shapes when
/// the model changed since the last inference. Checks graph invariants after every pass that changed
/// something in debug and test builds (`KILN_CHECK_INVARIANTS=1`).
public struct PassManager: Sendable {
    public var passes: [any Pass]
    public var maxRounds: Int

    /// Per-pass totals over all rounds.
    public struct PassStats: Sendable, Encodable {
        public var name: String
        public var runs = 0
        public var changes = 0
        public var seconds = 0.0
        public var counts: [String: Int] = [:]
    }

    public struct Report: Sendable {
        public var rounds = 0
        public var reachedFixedPoint = false
        public var passes: [PassStats] = []
        public var inferenceSeconds = 0.0
        public var inferenceRuns = 0
    }

    public init(passes: [any Pass], maxRounds: Int = 8) {
        self.passes = passes
        self.maxRounds = maxRounds
    }

    public func run(_ model: inout Model, context: PassContext) throws -> Report {
        var report = Report()
        report.passes = passes.map { PassStats(name: $0.name) }
        var shapesFresh = false
        for _ in 0..<maxRounds {
            report.rounds += 1
            var changedThisRound = false
            for (i, pass) in passes.enumerated() {
                if pass.needsShapes && !shapesFresh {
                    let t0 = monotonicSeconds()
                    refreshShapes(&model)
                    report.inferenceSeconds += monotonicSeconds() - t0
                    report.inferenceRuns += 1
                    shapesFresh = true
                }
                let t0 = monotonicSeconds()
                let result = try pass.run(on: &model, context: context)
                report.passes[i].seconds += monotonicSeconds() - t0
                report.passes[i].runs += 1
                if result.modified {
                    report.passes[i].changes += 1
                    for (k, v) in result.counts { report.passes[i].counts[k, default: 0] += v }
                    changedThisRound = true
                    shapesFresh = false
                    if invariantChecksEnabled {
                        do { try model.graph.checkInvariants() } catch {
                            throw KilnError(.internalError, "pass '\(pass.name)' broke the graph: \(error)")
                        }
                    }
                }
            }
            if !changedThisRound { report.reachedFixedPoint = true; break }
        }
        return report
    }

    /// Recomputes value types. Types are facts about values, so stale ones from removed values are
    /// gone with them; inference only adds what it can prove. The types stay on the values, but the
    /// `value_info` entries inference appends are dropped again: the lists stay as long as the
    /// input's, so removing a value (which scans `value_info`) stays cheap on big graphs, and the
    /// output lists only what the input listed.
    func refreshShapes(_ model: inout Model) {
        var listed: [[ValueID]] = []
        model.transformGraphs { graph, _ in listed.append(graph.valueInfo); return .unchanged }
        _ = ShapeInference().infer(&model)
        var k = 0
        model.transformGraphs { graph, _ in
            if k < listed.count, graph.valueInfo.count != listed[k].count { graph.setValueInfo(listed[k]) }
            k += 1
            return .unchanged
        }
    }
}

/// Seconds from a monotonic clock.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
