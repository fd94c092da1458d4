import KilnIR

/// The fusion passes `kiln optimize` runs at level 3, in order (see Docs/Fusions.md): layer fusions
/// first (they only read constants), then chain merges, then the transformer patterns to standard
/// operators (which `PassOptions.opsetFusions = false` switches off).
public enum FusionPasses {
    public static var standard: [any Pass] {
        [
            PatternRewritePass(name: "fuse-batchnorm", patterns: [BatchNormIntoProducer()], needsShapes: true),
            PatternRewritePass(name: "fuse-constant-scale", patterns: [ConstantScaleIntoProducer()], needsShapes: true),
            PatternRewritePass(name: "fuse-gemm", patterns: [MatMulAddToGemm(), TransposeIntoGemm()], needsShapes: true),
            PatternRewritePass(name: "fuse-pad", patterns: [PadIntoConsumer()], needsShapes: true),
            PatternRewritePass(name: "merge-chains", patterns: [
                TransposeChain(), ReshapeChain(), SqueezeUnsqueezeChain(), SliceChain(), ConcatChain(), CastChain(), UnaryChain(),
            ], needsShapes: true),
            PatternRewritePass(name: "fuse-gelu", patterns: [GeluPattern()], needsShapes: true),
            PatternRewritePass(name: "fuse-layernorm", patterns: [LayerNormPattern()], needsShapes: true),
            PatternRewritePass(name: "fuse-rmsnorm", patterns: [RMSNormPattern()], needsShapes: true),
            PatternRewritePass(name: "fuse-attention", patterns: [AttentionPattern()], needsShapes: true),
        ]
    }

    /// The standard pass named `name`, if any (for tests and `--only`).
    public static func pass(named name: String) -> (any Pass)? {
        standard.first { $0.name == name }
    }
}
