import KilnIR

/// The passes `kiln optimize` runs, by name and level, and the run itself.
///
/// Levels: 1 = cleanup; 2 = cleanup + folding (constant and shape); 3 (default) = 2 + the
/// fusions (`FusionPasses.standard`). `skip` removes passes by name, `only` keeps just the named
/// ones (in pipeline order); an unknown name is a usage error listing the valid names.
public enum Pipeline {
    /// Cleanup passes, in the order they run (level 1).
    public static var cleanup: [any Pass] {
        [ConstantToInitializerPass(), IfInliningPass(), IdentityEliminationPass(), DuplicateInitializersPass(),
         CommonSubexpressionEliminationPass(), NoOpEliminationPass(), DeadCodeEliminationPass()]
    }

    /// Folding passes (level 2).
    public static var folding: [any Pass] {
        [ConstantFoldingPass(), ShapeFoldingPass()]
    }

    /// Every pass of `level`, in order.
    public static func passes(level: Int) -> [any Pass] {
        var list = cleanup
        if level >= 2 { list += folding }
        if level >= 3 { list += FusionPasses.standard }
        return list
    }

    /// Every pass name the registry knows (all levels).
    public static var allNames: [String] { passes(level: 3).map(\.name) }

    /// The passes of `level`, filtered by `skip` and `only`. Throws a usage error naming an unknown
    /// pass and listing the valid names.
    public static func select(level: Int, skip: [String] = [], only: [String] = []) throws -> [any Pass] {
        guard (1...3).contains(level) else {
            throw KilnError(.invalidInput, "level must be 1, 2 or 3, got \(level)")
        }
        let known = Set(allNames)
        for name in skip + only where !known.contains(name) {
            throw KilnError(.invalidInput, "unknown pass '\(name)'; valid passes: \(allNames.joined(separator: ", "))")
        }
        var list = passes(level: level)
        if !only.isEmpty {
            let keep = Set(only)
            list = passes(level: 3).filter { keep.contains($0.name) }
        }
        let drop = Set(skip)
        return list.filter { !drop.contains($0.name) }
    }

    /// Runs `passes` on `model` to a fixed point and returns the manager's report.
    public static func run(_ model: inout Model, passes: [any Pass], options: PassOptions = PassOptions(),
                           log: PassLog = PassLog(), maxRounds: Int = 8) throws -> PassManager.Report {
        let manager = PassManager(passes: passes, maxRounds: maxRounds)
        return try manager.run(&model, context: PassContext(options: options, log: log))
    }

    /// Runs the passes of `level` (see `select`). Shape inference runs between passes that need
    /// shapes; the `value_info` entries it adds are dropped again at the end, so the output lists
    /// only what the input listed (and what still exists): inferred facts are not written.
    public static func optimize(_ model: inout Model, level: Int = 3, skip: [String] = [], only: [String] = [],
                                options: PassOptions = PassOptions(), log: PassLog = PassLog()) throws -> PassManager.Report {
        var listed = Set<String>()
        model.forEachGraph { g, _ in for id in g.valueInfo { listed.insert(g.name(of: id)) } }
        let report = try run(&model, passes: select(level: level, skip: skip, only: only), options: options, log: log)
        model.transformGraphs { graph, _ in
            let keep = graph.valueInfo.filter { listed.contains(graph.name(of: $0)) }
            if keep.count != graph.valueInfo.count { graph.setValueInfo(keep) }
            return .unchanged
        }
        return report
    }
}
