import KilnIR

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `--calibration-cache FILE`: a `CalibrationTable` as JSON (sorted keys, so files diff cleanly).
public enum CalibrationCache {
    public static func read(_ path: String) throws -> CalibrationTable {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw KilnError(.io, "cannot read the calibration cache (\(error.localizedDescription))", at: .init(file: path))
        }
        do {
            return try JSONDecoder().decode(CalibrationTable.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw KilnError(.invalidInput, "not a calibration cache: missing field '\(fieldPath(context.codingPath + [key]))'", at: .init(file: path))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw KilnError(.invalidInput, "not a calibration cache: bad value at '\(fieldPath(context.codingPath))' (\(context.debugDescription))",
                            at: .init(file: path))
        } catch let DecodingError.dataCorrupted(context) {
            throw KilnError(.invalidInput, "not a calibration cache: \(context.debugDescription)", at: .init(file: path))
        } catch {
            throw KilnError(.invalidInput, "not a calibration cache (\(error))", at: .init(file: path))
        }
    }

    /// Writes atomically (a temporary file beside `path`, renamed over it): a failure leaves no
    /// partial cache and any previous one intact.
    public static func write(_ table: CalibrationTable, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(table) } catch {
            throw KilnError(.internalError, "cannot encode the calibration table (\(error))", at: .init(file: path))
        }
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw KilnError(.io, "cannot write the calibration cache (\(error.localizedDescription))", at: .init(file: path))
        }
    }

    static func fieldPath(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
