import ArgumentParser
import Kiln

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kiln's version, printed by `kiln --version`.
let kilnVersion = "0.1.0"

@main
struct KilnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "Read, check, optimize, convert and quantize ONNX models.",
        discussion: """
        Exit status: 0 success, 1 the command's own check failed, 2 usage or input error.
        Errors are one line on stderr: `kiln: error: FILE: WHERE: WHAT`.
        """,
        version: kilnVersion,
        subcommands: [Check.self, Convert.self, Diff.self, Inspect.self, InferShapes.self, Optimize.self, Quantize.self, Run.self, Conformance.self]
    )

    /// Parses, runs, and maps every failure to an exit status and one line on stderr.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let e as KilnError {
            fail(e.description, status: exitStatus(for: e.code))
        } catch let e as ExitCode {
            // A command's own verdict (`kiln check` found problems): its report is already printed.
            fflush(nil)
            Glibc.exit(e.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help, --version
            }
            // Usage errors: ArgumentParser's message (with help hint) and status 2.
            var message = fullMessage(for: error)
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            FileHandleStderr.write("kiln: error: " + message.split(separator: "\n").first.map(String.init)! + "\n")
            let rest = message.split(separator: "\n").dropFirst().joined(separator: "\n")
            if !rest.isEmpty { FileHandleStderr.write(rest + "\n") }
            Glibc.exit(2)
        }
    }

    static func exitStatus(for code: KilnError.Code) -> Int32 {
        switch code {
        case .checkFailed: return 1
        case .invalidInput, .unsupported, .invalidGraph: return 2
        case .io: return 2
        case .internalError: return 3
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        let oneLine = message.replacingNewlines()
        FileHandleStderr.write("kiln: error: \(oneLine)\n")
        Glibc.exit(status)
    }
}

/// Ends the process with status 0 at once. Commands call it last, holding their model, so the
/// process does not spend time freeing a large graph piece by piece: the OS reclaims it at once.
func exitSuccessfully() -> Never {
    fflush(nil)
    Glibc.exit(0)
}

/// Prints a command's JSON report: pretty, keys sorted (stable for CI diffs), slashes unescaped.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

enum FileHandleStderr {
    static func write(_ s: String) {
        var s = s
        s.withUTF8 { buf in _ = Glibc.write(2, buf.baseAddress, buf.count) }
    }
}

extension String {
    func replacingNewlines() -> String {
        split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
