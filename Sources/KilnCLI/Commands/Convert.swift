import ArgumentParser
import Kiln

/// `kiln convert IN -o OUT`: re-save a model, optionally moving weights and rewriting axes.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Read a model and write it back (losslessly), optionally moving weights to external data.",
        discussion: """
        Without --external-data, tensors that were external stay external (same file names, next to \
        OUTPUT) and the rest stay inline; a model that would pass protobuf's 2 GB limit is written \
        with one external file, OUTPUT's name + ".data". The output is written to a temporary file \
        and renamed, so a failure never leaves a partial file and OUTPUT may be the input itself. \
        --dynamic-batch and --dim make input axes symbolic and rewrite the constants that bake the old \
        size (Reshape targets, Expand shapes, Slice ends), then verify with the evaluator at two sizes; \
        a constant that cannot be rewritten safely is named and nothing is written (exit 1). \
        --input-shape pins dims; --rename-dim renames a symbol. Rules: Docs/Commands/convert.md.
        """
    )

    enum ExternalData: String, ExpressibleByArgument, CaseIterable {
        case preserve, single, perTensor = "per-tensor", none
    }

    @Argument(help: "The input .onnx model.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the converted model.")
    var output: String

    @Option(help: "Where tensor data goes: preserve, single (one file), per-tensor, none (all inline).")
    var externalData: ExternalData?

    @Option(help: "With single or per-tensor: only tensors with at least this many bytes go external.")
    var externalDataThreshold: Int = 1024

    @Option(help: "With single: the external file's name, relative to the output's folder (default: OUTPUT name + .data).")
    var externalDataLocation: String?

    @Flag(help: "Make axis 0 of every graph input symbolic, named 'batch', and rewrite the constants that bake its size.")
    var dynamicBatch = false

    @Option(name: .customLong("dim"), help: "Make an input axis symbolic, as INPUT:AXIS=NAME (repeatable).")
    var dims: [String] = []

    @Option(name: .customLong("input-shape"), help: "Pin an input's shape, as NAME:1x3x224x224 (repeatable).")
    var inputShapes: [String] = []

    @Option(name: .customLong("rename-dim"), help: "Rename a symbolic dimension everywhere, as OLD=NEW (repeatable).")
    var renameDims: [String] = []

    @Flag(inversion: .prefixedNo, help: "Check --dynamic-batch/--dim by running the evaluator at two sizes (default on with them).")
    var verify: Bool?

    @Flag(help: "Convert float32 weights and compute to float16 (rules: Docs/Precision.md).")
    var fp16 = false

    @Flag(help: "Convert float32 weights and compute to bfloat16 (opset 13 or later).")
    var bf16 = false

    @Flag(help: "With --fp16/--bf16: graph inputs and outputs stay float32 (same names); Casts go inside.")
    var keepIOTypes = false

    @Option(name: .customLong("block-op"), help: "With --fp16/--bf16: also keep this operator type in float32 (repeatable).")
    var blockOps: [String] = []

    @Option(help: "Convert the ai.onnx opset to N (7 up to the newest), up or down (rules: Docs/OpsetConversion.md).")
    var opset: Int?

    @Option(help: "Prepare for a consumer (tensorrt, openvino, tvm, onnxruntime): bring the opset into its range, then run its check (Docs/Targets.md).")
    var target: Quantize.Target?

    func validate() throws {
        _ = try parsedDims()
        _ = try InputShape.parse(inputShapes)
        _ = try parsedRenames()
        if fp16 && bf16 { throw ValidationError("--fp16 and --bf16 exclude each other") }
        if !fp16 && !bf16 && (keepIOTypes || !blockOps.isEmpty) {
            throw ValidationError("--keep-io-types and --block-op need --fp16 or --bf16")
        }
        if externalDataThreshold < 0 {
            throw ValidationError("--external-data-threshold must be zero or more")
        }
        if externalDataLocation != nil && externalData != .single {
            throw ValidationError("--external-data-location needs --external-data single")
        }
        if let loc = externalDataLocation, loc.hasPrefix("/") || loc.split(separator: "/").contains("..") || loc.isEmpty {
            throw ValidationError("--external-data-location must be a file name relative to the output's folder")
        }
    }

    func run() throws {
        HeapTuning.preferHugePages()
        var model = try ModelFile.read(input)
        try rewriteAxes(&model)
        let profile = target.flatMap { QuantizationConfig.Target(rawValue: $0.rawValue) }.map(TargetProfile.of)
        if let opset { do { let r = try OpsetConverter().convert(&model, to: opset); print((["opset \(r.from) -> \(r.to)"] + r.lines.map { "  \($0)" }).joined(separator: "\n")) } catch let e as KilnError { throw e.inFile(input) } }
        if opset == nil, let profile, let to = profile.opsetToConvert(model) {
            do { let r = try OpsetConverter().convert(&model, to: to); print("opset \(r.from) -> \(r.to) (\(profile.target.rawValue))") }
            catch let e as KilnError { throw e.inFile(input) }
        }
        if fp16 || bf16 {
            let options = PrecisionOptions(target: bf16 ? .bfloat16 : .float16, keepIOTypes: keepIOTypes, blockedOps: Set(blockOps))
            do { print(try PrecisionConversion.convert(&model, options: options).summary) } catch let e as KilnError { throw e.inFile(input) }
        }
        var options = ModelFile.WriteOptions()
        switch externalData {
        case nil: options.externalData = nil
        case .preserve: options.externalData = .preserve
        case .some(.none): options.externalData = ExternalDataMode.none
        case .perTensor: options.externalData = .perTensor(threshold: externalDataThreshold)
        case .single:
            options.externalData = .single(location: externalDataLocation ?? ModelFile.defaultDataLocation(for: output),
                                           threshold: externalDataThreshold)
        }
        let report = try ModelFile.write(model, to: output, options: options)
        if report.switchedToExternal {
            FileHandleStderr.write("kiln: note: the model exceeds protobuf's 2 GB limit inline; weights went to external data\n")
        }
        var line = "wrote \(output) (\(report.modelBytes) bytes)"
        if !report.externalFiles.isEmpty {
            line += "; external data: " + report.externalFiles.map { "\($0.name) (\($0.bytes) bytes)" }.joined(separator: ", ")
        }
        print(line)
        if let profile { try TargetFindings.report(model, target: profile.target, toStderr: false) }
        withExtendedLifetime(model) { exitSuccessfully() }
    }

    // MARK: axes

    /// `--dim INPUT:AXIS=NAME`.
    func parsedDims() throws -> [DynamicAxes.AxisSpec] {
        try dims.map { spec in
            guard let eq = spec.lastIndex(of: "="), let colon = spec[..<eq].lastIndex(of: ":"),
                  let axis = Int(spec[spec.index(after: colon)..<eq]), axis >= 0 else {
                throw ValidationError("--dim '\(spec)' is not INPUT:AXIS=NAME (e.g. input_ids:1=sequence)")
            }
            let name = String(spec[spec.index(after: eq)...]), input = String(spec[..<colon])
            guard !input.isEmpty, !name.isEmpty, Int64(name) == nil else {
                throw ValidationError("--dim '\(spec)': the input and the symbol name must be non-empty, the name not a number")
            }
            return DynamicAxes.AxisSpec(input: input, axis: axis, name: name)
        }
    }

    /// `--rename-dim OLD=NEW`.
    func parsedRenames() throws -> [(old: String, new: String)] {
        try renameDims.map { spec in
            let parts = spec.split(separator: "=", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--rename-dim '\(spec)' is not OLD=NEW")
            }
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// Dynamic axes (then verification), pinned shapes, renamed symbols, in that order.
    func rewriteAxes(_ model: inout Model) throws {
        let specs = (dynamicBatch ? DynamicAxes.batchSpecs(model) : []) + (try parsedDims())
        if !specs.isEmpty {
            let original = model
            let report: DynamicAxes.Report
            do {
                report = try DynamicAxes.makeDynamic(&model, dims: specs)
            } catch let e as KilnError {
                throw e.inFile(input)
            }
            for line in report.rewrites { print("rewrote \(line)") }
            if verify ?? true, !report.oldSizes.isEmpty {
                do {
                    for line in try AxesVerification.run(original: original, rewritten: model, oldSizes: report.oldSizes) {
                        print("verified: \(line)")
                    }
                } catch var e as KilnError {
                    e.message += "; nothing written"
                    throw e.inFile(input)
                }
            }
        }
        let pins = try InputShape.parse(inputShapes)
        if !pins.isEmpty {
            try InputShape.apply(pins, to: &model, file: input)
            DynamicAxes.refreshTypes(&model)
        }
        for (old, new) in try parsedRenames() { try DynamicAxes.renameDim(&model, from: old, to: new) }
    }
}
