import Testing
import KilnIR
import KilnEvaluator
@_exported import KilnTestSupport
@testable import KilnPasses

/// Runs `passes` to a fixed point (shape inference as the manager does it), checking invariants.
func optimized(_ model: Model, _ passes: [any Pass], options: PassOptions = PassOptions()) throws -> (Model, PassManager.Report) {
    var m = model
    let report = try PassManager(passes: passes).run(&m, context: PassContext(options: options))
    try m.graph.checkInvariants()
    return (m, report)
}

