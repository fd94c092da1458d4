import KilnEvaluator
import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A folder of calibration samples, read one sample at a time.
///
/// Layouts (auto-detected; Docs/Calibration.md):
///  1. `.npz` files, one per sample (`np.savez` or `np.savez_compressed`); keys are input names.
///  2. Sub-folders, one per sample, holding `<input>.npy` per input.
///  3. ONNX test-data folders `test_data_set_*/input_<k>.pb` (or the folder itself holding
///     `input_<k>.pb`): tensors matched by their `TensorProto` name when every name is an input,
///     else by position `k` in the model's non-initializer inputs.
///
/// Opening lists the samples and checks every sample's input names (missing / extra inputs); the
/// element type, rank, static dimensions and finiteness of each value are checked when the sample is
/// read, before it reaches the evaluator. Errors name the sample file and the input.
public struct CalibrationData: Sendable {
    public enum Layout: String, Sendable { case npz, npyFolders = "npy-folders", onnxTestData = "onnx-test-data" }

    /// One sample: where it lives and, per input, the file (or archive entry) holding it.
    struct Sample: Sendable {
        var name: String
        var path: String
        var files: [(input: String, file: String)]
    }

    public let path: String
    public let layout: Layout
    /// The inputs each sample provides: the model's graph inputs without an initializer, in order.
    public let inputs: [(name: String, type: ValueType?)]
    let samples: [Sample]

    public var count: Int { samples.count }
    public var sampleNames: [String] { samples.map(\.name) }

    public init(path: String, model: Model) throws {
        self.path = path
        let graph = model.graph
        let initialized = Set(graph.initializerOrder)
        inputs = graph.inputs.filter { !initialized.contains($0) }.map { (graph.name(of: $0), graph[value: $0].type) }
        let names = inputs.map(\.name)
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw KilnError(.invalidInput, "the calibration data folder does not exist", at: .init(file: path))
        }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            guard path.hasSuffix(".npz") else {
                throw KilnError(.invalidInput, "calibration data must be a folder (or one .npz file)", at: .init(file: path))
            }
            layout = .npz
            samples = [try Self.npzSample(path, inputs: names)]
            return
        }
        let entries = try Self.listing(path)
        let npz = entries.filter { $0.hasSuffix(".npz") }
        let folders = entries.filter { Self.isFolder("\(path)/\($0)") }
        if entries.contains(where: { $0.hasPrefix("input_") && $0.hasSuffix(".pb") }) {
            layout = .onnxTestData
            samples = [try Self.testDataSample(path, name: Self.lastComponent(path), inputs: names)]
        } else if !npz.isEmpty {
            if let other = folders.first {
                throw KilnError(.invalidInput, "the folder mixes .npz samples with a sub-folder '\(other)'; use one layout", at: .init(file: path))
            }
            layout = .npz
            samples = try npz.map { try Self.npzSample("\(path)/\($0)", inputs: names) }
        } else if !folders.isEmpty {
            let testData = folders.contains { $0.hasPrefix("test_data_set_") }
            layout = testData ? .onnxTestData : .npyFolders
            samples = try folders.map { folder in
                let p = "\(path)/\(folder)"
                return testData ? try Self.testDataSample(p, name: folder, inputs: names) : try Self.npySample(p, name: folder, inputs: names)
            }
        } else {
            throw KilnError(.invalidInput, entries.isEmpty
                ? "the calibration data folder is empty; put one .npz per sample, one folder of <input>.npy per sample, or test_data_set_*/input_0.pb folders in it"
                : "no calibration samples found (no .npz files, no sample folders, no input_*.pb)", at: .init(file: path))
        }
    }

    /// The values of sample `index`, by input name, checked against the model's inputs.
    public func sample(_ index: Int) throws -> [String: RuntimeValue] {
        let s = samples[index]
        var values: [String: RuntimeValue] = [:]
        let types = Dictionary(inputs.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
        switch layout {
        case .npz:
            let archive = try ZipArchive(path: s.path)
            for (input, key) in s.files {
                guard let entry = archive.entries.first(where: { $0.name == key }) else {
                    throw KilnError(.invalidInput, "input '\(input)': archive entry '\(key)' is missing", at: .init(file: s.path))
                }
                let value: TensorValue
                do { value = try NumpyFile.decode(try archive.data(of: entry)) } catch let e as KilnError {
                    throw KilnError(e.code, "input '\(input)' (\(key)): \(e.message)", at: .init(file: s.path))
                }
                values[input] = .tensor(value)
            }
        case .npyFolders, .onnxTestData:
            for (input, file) in s.files {
                let value: RuntimeValue
                do { value = try ValueFile.read(file, type: types[input] ?? nil).value } catch let e as KilnError {
                    throw KilnError(e.code, "input '\(input)': \(e.message)", at: .init(file: file))
                }
                values[input] = value
            }
        }
        for (input, file) in s.files {
            try Self.check(values[input]!, against: types[input] ?? nil, input: input, file: layout == .npz ? s.path : file)
        }
        return values
    }

    /// Element type, rank, static dimensions and finiteness of one input value.
    static func check(_ value: RuntimeValue, against type: ValueType?, input: String, file: String) throws {
        guard case .tensor(let t) = value else { return }
        if case .tensor(let element, let shape)? = type?.kind {
            if let element, element != .undefined, element != t.dataType {
                throw KilnError(.invalidInput, "input '\(input)' must be \(element.name), the sample holds \(t.dataType.name) \(t.shape)",
                                at: .init(file: file))
            }
            if let shape {
                guard shape.rank == t.rank else {
                    throw KilnError(.invalidInput, "input '\(input)' must have rank \(shape.rank) \(shape), the sample has shape \(t.shape)",
                                    at: .init(file: file))
                }
                for (i, d) in shape.dims.enumerated() {
                    if let v = d.staticValue, v != Int64(t.shape[i]) {
                        throw KilnError(.invalidInput, "input '\(input)' must have dimension \(i) = \(v) \(shape), the sample has shape \(t.shape)",
                                        at: .init(file: file))
                    }
                }
            }
        }
        if let bad = firstNonFinite(t) {
            throw KilnError(.invalidInput, "input '\(input)' holds \(bad.value) at flat index \(bad.index); calibration samples must be finite",
                            at: .init(file: file))
        }
    }

    static func firstNonFinite(_ t: TensorValue) -> (index: Int, value: Double)? {
        switch t.storage {
        case .float(let a): if let i = a.firstIndex(where: { !$0.isFinite }) { return (i, Double(a[i])) }
        case .double(let a): if let i = a.firstIndex(where: { !$0.isFinite }) { return (i, a[i]) }
        case .float16, .bfloat16:
            let d = t.doubles
            if let i = d.firstIndex(where: { !$0.isFinite }) { return (i, d[i]) }
        default: break
        }
        return nil
    }

    // MARK: - Layout discovery

    static func npzSample(_ path: String, inputs: [String]) throws -> Sample {
        let archive = try ZipArchive(path: path)
        var keys: [String: String] = [:]
        for e in archive.entries {
            let key = e.name.hasSuffix(".npy") ? String(e.name.dropLast(4)) : e.name
            keys[key] = e.name
        }
        let files = try match(Array(keys.keys), inputs: inputs, file: path, what: "key")
        return Sample(name: lastComponent(path), path: path, files: files.map { ($0, keys[$0]!) })
    }

    static func npySample(_ path: String, name: String, inputs: [String]) throws -> Sample {
        let stems = try listing(path).filter { $0.hasSuffix(".npy") }.map { String($0.dropLast(4)) }
        let files = try match(stems, inputs: inputs, file: path, what: "file")
        return Sample(name: name, path: path, files: files.map { ($0, "\(path)/\($0).npy") })
    }

    /// `input_<k>.pb` files: by `TensorProto` name when all names are inputs, else by position.
    static func testDataSample(_ path: String, name: String, inputs: [String]) throws -> Sample {
        let pbs = try listing(path).filter { $0.hasPrefix("input_") && $0.hasSuffix(".pb") }
            .compactMap { f in Int(f.dropFirst(6).dropLast(3)).map { ($0, "\(path)/\(f)") } }
            .sorted { $0.0 < $1.0 }
        var byName: [(String, String)] = []
        for (_, file) in pbs {
            let proto = try ValueFile.read(file).name
            if inputs.contains(proto), !byName.contains(where: { $0.0 == proto }) { byName.append((proto, file)) } else { byName = []; break }
        }
        if byName.count == pbs.count, !pbs.isEmpty {
            _ = try match(byName.map(\.0), inputs: inputs, file: path, what: "tensor")
            return Sample(name: name, path: path, files: byName)
        }
        guard pbs.count == inputs.count, pbs.enumerated().allSatisfy({ $0.offset == $0.element.0 }) else {
            throw KilnError(.invalidInput, "expected input_0.pb ... input_\(inputs.count - 1).pb for the model's \(inputs.count) input(s) (\(inputs.joined(separator: ", "))), found \(pbs.count) file(s)",
                            at: .init(file: path))
        }
        return Sample(name: name, path: path, files: zip(inputs, pbs).map { ($0, $1.1) })
    }

    /// Every input present, nothing extra; returns the inputs in model order.
    static func match(_ keys: [String], inputs: [String], file: String, what: String) throws -> [String] {
        let have = Set(keys)
        if let missing = inputs.first(where: { !have.contains($0) }) {
            throw KilnError(.invalidInput, "input '\(missing)' is missing from the sample (it has \(what)s: \(keys.sorted().joined(separator: ", ")))",
                            at: .init(file: file))
        }
        if let extra = keys.sorted().first(where: { !inputs.contains($0) }) {
            throw KilnError(.invalidInput, "the sample has \(what) '\(extra)', which is not an input of the model (inputs: \(inputs.joined(separator: ", ")))",
                            at: .init(file: file))
        }
        return inputs
    }

    /// Visible entries of a folder, in natural order (`s2` before `s10`).
    static func listing(_ path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }
                .sorted { naturalLess($0, $1) }
        } catch {
            throw KilnError(.io, "cannot list the folder", at: .init(file: path))
        }
    }

    static func isFolder(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func lastComponent(_ path: String) -> String {
        String(path.split(separator: "/").last ?? Substring(path))
    }

    /// Compares runs of digits numerically, everything else by character.
    static func naturalLess(_ a: String, _ b: String) -> Bool {
        var i = a.unicodeScalars.makeIterator(), j = b.unicodeScalars.makeIterator()
        var x = i.next(), y = j.next()
        while let p = x, let q = y {
            if p.properties.numericType != nil, q.properties.numericType != nil, p.isASCII, q.isASCII {
                var m = "", n = ""
                while let c = x, c.isASCII, c.properties.numericType != nil { m.unicodeScalars.append(c); x = i.next() }
                while let c = y, c.isASCII, c.properties.numericType != nil { n.unicodeScalars.append(c); y = j.next() }
                if m.count != n.count { return m.count < n.count }
                if m != n { return m < n }
                continue
            }
            if p != q { return p.value < q.value }
            x = i.next(); y = j.next()
        }
        return x == nil && y != nil
    }
}
