/// One version of one operator, as `onnx.defs` declares it (`OpSchema`): what the operator takes,
/// what it produces, its attributes and type constraints, from `sinceVersion` until the next version
/// of the same operator.
///
/// Documentation strings are not kept. Schemas come from `SchemaRegistry.standard` (every schema of
/// the onnx wheel, see Docs/Opset.md) or from a registry built with `SchemaRegistry(schemas:)`.
public struct OperatorSchema: Hashable, Sendable, CustomStringConvertible {
    /// The domain as onnx spells it: `""` for the default domain (`ai.onnx`).
    public var domain: String
    /// The operator type (`Conv`, `LabelEncoder`, ...).
    public var name: String
    /// The opset version of `domain` this schema is in force from.
    public var sinceVersion: Int
    /// A deprecated schema marks the version at which the operator was removed: in force, it means
    /// the operator is not available (see `SchemaRegistry.resolve(domain:op:opset:)`).
    public var isDeprecated: Bool
    public var supportLevel: SupportLevel
    public var determinism: Determinism
    /// Sorted by name.
    public var attributes: [Attribute]
    /// In the order of the operator's signature.
    public var inputs: [FormalParameter]
    public var outputs: [FormalParameter]
    /// In the order onnx lists them.
    public var typeConstraints: [TypeConstraint]
    /// Bounds on the number of node inputs and outputs (empty optional slots count);
    /// `Self.unbounded` when there is no upper bound.
    public var minInputs: Int
    public var maxInputs: Int
    public var minOutputs: Int
    public var maxOutputs: Int
    /// The function bodies the schema defines, one per opset version of the body, ascending.
    public var functionBodies: [FunctionBody]
    /// The opset versions for which onnx builds a body that depends on the node (its attributes
    /// and input types); the body itself is not in the table.
    public var contextDependentFunctionOpsets: [Int]

    /// The `max_input`/`max_output` of a variadic operator: onnx's `INT_MAX`.
    public static let unbounded = Int(Int32.max)

    /// Whether onnx's support level for the schema is `COMMON` or `EXPERIMENTAL`.
    public enum SupportLevel: Hashable, Sendable {
        case common, experimental
    }

    /// Whether the same inputs always give the same outputs (onnx's `NodeDeterminism`); constant
    /// folding leaves `.nonDeterministic` and `.unknown` operators alone.
    public enum Determinism: Hashable, Sendable {
        case deterministic, nonDeterministic, unknown
    }

    public init(
        domain: String, name: String, sinceVersion: Int, isDeprecated: Bool = false,
        supportLevel: SupportLevel = .common, determinism: Determinism = .deterministic,
        attributes: [Attribute] = [], inputs: [FormalParameter] = [], outputs: [FormalParameter] = [],
        typeConstraints: [TypeConstraint] = [],
        minInputs: Int? = nil, maxInputs: Int? = nil, minOutputs: Int? = nil, maxOutputs: Int? = nil,
        functionBodies: [FunctionBody] = [], contextDependentFunctionOpsets: [Int] = []
    ) {
        self.domain = domain
        self.name = name
        self.sinceVersion = sinceVersion
        self.isDeprecated = isDeprecated
        self.supportLevel = supportLevel
        self.determinism = determinism
        self.attributes = attributes
        self.inputs = inputs
        self.outputs = outputs
        self.typeConstraints = typeConstraints
        self.minInputs = minInputs ?? FormalParameter.minCount(inputs)
        self.maxInputs = maxInputs ?? FormalParameter.maxCount(inputs)
        self.minOutputs = minOutputs ?? FormalParameter.minCount(outputs)
        self.maxOutputs = maxOutputs ?? FormalParameter.maxCount(outputs)
        self.functionBodies = functionBodies
        self.contextDependentFunctionOpsets = contextDependentFunctionOpsets
    }

    /// Whether the schema defines a function body (onnx's `has_function`).
    public var hasFunction: Bool { !functionBodies.isEmpty }

    /// Whether onnx builds a node-dependent body (onnx's `has_context_dependent_function`).
    public var hasContextDependentFunction: Bool { !contextDependentFunctionOpsets.isEmpty }

    /// The attribute declared as `name`, if any.
    public func attribute(named name: String) -> Attribute? {
        attributes.first { $0.name == name }
    }

    /// The type constraint for the type parameter `name` (`"T"`), if any.
    public func typeConstraint(named name: String) -> TypeConstraint? {
        typeConstraints.first { $0.typeParameter == name }
    }

    /// The type strings a formal parameter accepts: those of its type constraint, or its own type
    /// string when it names a concrete type (`tensor(int64)`).
    public func allowedTypes(for parameter: FormalParameter) -> [String] {
        typeConstraint(named: parameter.typeString)?.allowedTypes ?? [parameter.typeString]
    }

    /// `Domain::Name-since` (`Conv-11`, `ai.onnx.ml::LabelEncoder-4`).
    public var description: String {
        (domain.isEmpty ? "" : domain + "::") + name + "-" + String(sinceVersion)
    }
}
