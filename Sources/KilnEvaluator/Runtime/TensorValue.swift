import KilnIR

/// A dense runtime tensor: data type, shape and contiguous row-major elements.
///
/// A value type; its storage is copy-on-write, so passing a tensor along (Identity, Reshape) never
/// copies elements.
public struct TensorValue: Sendable, CustomStringConvertible {
    public var shape: [Int]
    public var storage: TensorStorage

    public init(shape: [Int], storage: TensorStorage) {
        precondition(shape.allSatisfy { $0 >= 0 } && shapeCount(shape) == storage.count,
                     "shape \(shape) does not match \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    public init<T: TensorElement>(shape: [Int], elements: ContiguousArray<T>) {
        self.init(shape: shape, storage: T.wrap(elements))
    }

    public init<T: TensorElement>(shape: [Int], _ elements: [T]) {
        self.init(shape: shape, storage: T.wrap(ContiguousArray(elements)))
    }

    /// A rank-0 tensor.
    public static func scalar<T: TensorElement>(_ value: T) -> TensorValue {
        TensorValue(shape: [], elements: [value])
    }

    public var dataType: DataType { storage.dataType }
    public var rank: Int { shape.count }
    public var count: Int { shapeCount(shape) }

    /// The elements as `T` (nil when the data type differs).
    public func elements<T: TensorElement>(as type: T.Type) -> ContiguousArray<T>? {
        T.unwrap(storage)
    }

    /// The same elements with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> TensorValue {
        TensorValue(shape: newShape, storage: storage)
    }

    /// Every element converted to Double (strings parsed).
    public var doubles: [Double] { storage.visit(DoublesVisitor()) }

    /// Every element converted to Int64 (floats truncated toward zero).
    public var int64s: [Int64] { storage.visit(Int64sVisitor()) }

    public var description: String {
        "tensor(\(dataType.name))[\(shape.map(String.init).joined(separator: ", "))]"
    }
}

/// Number of elements of a shape.
@inline(__always)
func shapeCount(_ shape: [Int]) -> Int {
    var n = 1
    for d in shape { n *= d }
    return n
}

/// Row-major strides of a shape.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

private struct DoublesVisitor: ElementVisitor {
    func visit<T: TensorElement>(_ e: ContiguousArray<T>) -> [Double] { e.map(\.doubleValue) }
}

private struct Int64sVisitor: ElementVisitor {
    func visit<T: TensorElement>(_ e: ContiguousArray<T>) -> [Int64] { e.map(\.int64Value) }
}
