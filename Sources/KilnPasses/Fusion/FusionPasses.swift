import KilnIR

/// The fusion passes `kiln optimize` runs at level 3, in order (see Docs/Fusions.md).
public enum FusionPasses {
    public static var standard: [any Pass] { [] }
}
