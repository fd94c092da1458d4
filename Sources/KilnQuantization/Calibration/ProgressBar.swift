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

/// `[=======>      ] 12/32 samples  3.1 samples/s  ETA 6s` on stderr, redrawn in place; drawn only
/// when enabled and stderr is a terminal, so logs and `--json` output stay clean.
struct ProgressBar {
    let total: Int
    let enabled: Bool
    let start = Date()
    private var drawn = false

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled && isatty(2) == 1
    }

    mutating func update(done: Int) {
        guard enabled else { return }
        write(Self.line(done: done, total: total, elapsed: Date().timeIntervalSince(start)))
        drawn = true
    }

    /// Clears the bar.
    mutating func finish() {
        guard enabled, drawn else { return }
        write("\r\u{1B}[2K")
        drawn = false
    }

    static func line(done: Int, total: Int, elapsed: Double, width: Int = 30) -> String {
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "")
            + String(repeating: " ", count: max(0, width - filled - 1))
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        return "\r\u{1B}[2K[\(bar)] \(done)/\(total) samples  \(format(rate)) samples/s  ETA \(duration(eta))"
    }

    static func format(_ x: Double) -> String {
        let tenths = Int((x * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { return }
            offset += n
        }
    }
}
