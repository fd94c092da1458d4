import ArgumentParser
import Kiln

/// `kiln convert IN -o OUT`: re-save a model (later: opset and axis conversion).
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read a model and write it back (losslessly), optionally moving weights to external data.",
        discussion: """
        Without --external-data, tensors that were external stay external (same file names, next to \
        OUTPUT) and the rest stay inline; a model that would pass protobuf's 2 GB limit is written \
        with one external file, OUTPUT's name + ".data". The output is written to a temporary file \
        and renamed, so a failure never leaves a partial file and OUTPUT may be the input itself.
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

    func validate() throws {
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
        let model = try ModelFile.read(input)
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
        withExtendedLifetime(model) { exitSuccessfully() }
    }
}
