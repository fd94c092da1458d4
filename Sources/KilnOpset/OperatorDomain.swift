/// The operator domains onnx defines, and the one rule for comparing domain names:
/// `""` and `"ai.onnx"` are the same domain.
public enum OperatorDomain {
    /// The default domain, spelled `""` in schemas (`ai.onnx`).
    public static let onnx = ""
    public static let ml = "ai.onnx.ml"
    public static let training = "ai.onnx.training"
    public static let previewTraining = "ai.onnx.preview.training"
    public static let preview = "ai.onnx.preview"

    /// The spelling schemas use for `domain`: `""` for `"ai.onnx"`, any other name unchanged.
    public static func canonical(_ domain: String) -> String {
        domain == "ai.onnx" ? onnx : domain
    }
}
