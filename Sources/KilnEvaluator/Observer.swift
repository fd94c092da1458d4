import KilnIR

/// Sees chosen intermediate values while a graph runs (calibration, numeric diff), in process and
/// without keeping the whole graph's activations alive.
///
/// The evaluator asks `wants(_:)` once per node output of the main graph when it is produced and,
/// when true, calls `observe(_:_:)` before the value can be freed. Keep what you need (a min/max,
/// a histogram, a copy): the evaluator does not hold values for the observer.
public protocol Observer: AnyObject {
    func wants(_ valueName: String) -> Bool
    func observe(_ valueName: String, _ value: RuntimeValue)
}

/// An observer that keeps the values it was asked for, by name.
public final class RecordingObserver: Observer {
    public let names: Set<String>?
    public private(set) var values: [String: RuntimeValue] = [:]

    /// Records `names`, or every node output when `names` is nil.
    public init(names: Set<String>?) { self.names = names }

    public func wants(_ valueName: String) -> Bool { names?.contains(valueName) ?? true }
    public func observe(_ valueName: String, _ value: RuntimeValue) { values[valueName] = value }
}
