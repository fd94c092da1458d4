import Testing
import KilnIR
@testable import KilnOpset

/// What one schema holds: attributes and defaults, formal parameters, type constraints, functions.
@Suite struct OperatorSchemaTests {
    let registry = SchemaRegistry.standard

    func schema(_ op: String, _ since: Int, domain: String = "") throws -> OperatorSchema {
        try #require(registry.schema(domain: domain, op: op, sinceVersion: since))
    }

    @Test func readsAttributeTypesAndDefaults() throws {
        let conv = try schema("Conv", 22)
        #expect(conv.attributes.map(\.name) == ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
        let autoPad = try #require(conv.attribute(named: "auto_pad"))
        #expect(autoPad.type == .string && !autoPad.isRequired)
        #expect(autoPad.defaultValue == .value(.string(Array("NOTSET".utf8))))
        #expect(conv.attribute(named: "group")?.defaultValue?.value == .int(1))
        #expect(conv.attribute(named: "kernel_shape")?.type == .ints)
        #expect(conv.attribute(named: "kernel_shape")?.defaultValue == nil)

        #expect(try schema("LeakyRelu", 16).attribute(named: "alpha")?.defaultValue == .value(.float(0.01)))
        let gemm = try schema("Gemm", 13)
        #expect(gemm.attribute(named: "alpha")?.defaultValue == .value(.float(1)))
        #expect(gemm.attribute(named: "beta")?.defaultValue == .value(.float(1)))
        #expect(gemm.attribute(named: "transA")?.defaultValue == .value(.int(0)))

        #expect(try schema("Cast", 21).attribute(named: "to").map { $0.isRequired && $0.type == .int } == true)
        #expect(try schema("RNN", 22).attribute(named: "activations")?.defaultValue
                == .value(.strings([Array("Tanh".utf8), Array("Tanh".utf8)])))
        #expect(try schema("MeanVarianceNormalization", 13).attribute(named: "axes")?.defaultValue == .value(.ints([0, 2, 3])))
        #expect(try schema("Clip", 6).attribute(named: "max")?.defaultValue == .value(.float(Float.greatestFiniteMagnitude)))
    }

    @Test func everyDefaultHasItsAttributesType() {
        for schema in registry.allSchemas {
            for attribute in schema.attributes {
                switch attribute.defaultValue {
                case .value(let v)?: #expect(attribute.type.matches(v), "\(schema).\(attribute.name)")
                case .serialized(let type, _)?: #expect(type == attribute.type, "\(schema).\(attribute.name)")
                case nil: break
                }
                if attribute.isRequired { #expect(attribute.defaultValue == nil, "\(schema).\(attribute.name)") }
            }
        }
    }

    @Test func tracksSignatureChangesAcrossVersions() throws {
        // Squeeze-13 moved `axes` from an attribute to an optional input.
        #expect(try schema("Squeeze", 11).attribute(named: "axes") != nil)
        let squeeze13 = try schema("Squeeze", 13)
        #expect(squeeze13.attributes.isEmpty)
        #expect(squeeze13.inputs.map(\.name) == ["data", "axes"])
        #expect(squeeze13.inputs[1].option == .optional)
        // Clip-11 moved min and max to optional inputs.
        #expect(try schema("Clip", 6).attributes.map(\.name) == ["max", "min"])
        let clip11 = try schema("Clip", 11)
        #expect(clip11.attributes.isEmpty)
        #expect(clip11.inputs.map(\.option) == [.single, .optional, .optional])
        #expect(clip11.minInputs == 1 && clip11.maxInputs == 3)
        // Reshape-5 moved `shape` to an input.
        #expect(try schema("Reshape", 1).attribute(named: "shape") != nil)
        #expect(try schema("Reshape", 5).inputs.map(\.name) == ["data", "shape"])
        #expect(try schema("Reshape", 5).inputs[1].typeString == "tensor(int64)")
    }

    @Test func readsVariadicParameters() throws {
        let concat = try schema("Concat", 13)
        #expect(concat.inputs.count == 1)
        #expect(concat.inputs[0].option == .variadic && concat.inputs[0].minArity == 1 && concat.inputs[0].isHomogeneous)
        #expect(concat.minInputs == 1 && concat.maxInputs == OperatorSchema.unbounded)
        let loop = try schema("Loop", 21)
        #expect(loop.inputs.map(\.option) == [.optional, .optional, .variadic])
        #expect(loop.inputs[2].minArity == 0 && !loop.inputs[2].isHomogeneous)
        #expect(loop.minInputs == 2)
        #expect(try schema("If", 21).outputs[0].isHomogeneous == false)
    }

    @Test func countsAgreeWithTheSignature() {
        for schema in registry.allSchemas {
            #expect(schema.minInputs == OperatorSchema.FormalParameter.minCount(schema.inputs), "\(schema)")
            #expect(schema.maxInputs == OperatorSchema.FormalParameter.maxCount(schema.inputs), "\(schema)")
            #expect(schema.minOutputs == OperatorSchema.FormalParameter.minCount(schema.outputs), "\(schema)")
            #expect(schema.maxOutputs == OperatorSchema.FormalParameter.maxCount(schema.outputs), "\(schema)")
        }
    }

    @Test func readsTypeConstraints() throws {
        let add14 = try schema("Add", 14)
        #expect(add14.typeConstraints.map(\.typeParameter) == ["T"])
        #expect(add14.typeConstraint(named: "T")?.allows("tensor(bfloat16)") == true)
        #expect(add14.allowedTypes(for: add14.inputs[0]).contains("tensor(uint8)"))
        #expect(try schema("Add", 7).typeConstraint(named: "T")?.allows("tensor(bfloat16)") == false)
        let insert = try schema("SequenceInsert", 11)
        #expect(insert.typeConstraint(named: "S")?.allows("seq(tensor(int64))") == true)
        #expect(insert.typeConstraint(named: "I")?.allowedTypes == ["tensor(int32)", "tensor(int64)"])
        #expect(try schema("Optional", 15).typeConstraint(named: "O")?.allows("optional(seq(tensor(float)))") == true)
        #expect(try schema("Reshape", 5).allowedTypes(for: try schema("Reshape", 5).inputs[1]) == ["tensor(int64)"])
        #expect(try schema("ZipMap", 1, domain: OperatorDomain.ml).typeConstraint(named: "T")?
                    .allows("seq(map(int64, float))") == true)
    }

    @Test func everyFormalParameterTypeIsConstrainedOrConcrete() {
        for schema in registry.allSchemas {
            for parameter in schema.inputs + schema.outputs {
                let constrained = schema.typeConstraint(named: parameter.typeString) != nil
                let concrete = parameter.typeString.contains("(")
                #expect(constrained || concrete, "\(schema).\(parameter.name): \(parameter.typeString)")
            }
        }
    }

    @Test func keepsFunctionBodies() throws {
        // LayerNormalization and Gelu are context-dependent functions: onnx builds their bodies per node.
        let layerNorm = try schema("LayerNormalization", 17)
        #expect(!layerNorm.hasFunction && layerNorm.hasContextDependentFunction)
        #expect(layerNorm.contextDependentFunctionOpsets == [17, 18])
        #expect(try schema("Gelu", 20).contextDependentFunctionOpsets == [20])

        let softplus = try schema("Softplus", 1)
        #expect(softplus.hasFunction && softplus.functionBodies.map(\.opset) == [18])
        let body = try #require(softplus.functionBody(forOpset: 21)).serializedFunctionProto
        // FunctionProto field 1 (name), length-delimited: "Softplus".
        #expect(Array(body.prefix(10)) == [0x0A, 8] + Array("Softplus".utf8))
        #expect(softplus.functionBody(forOpset: 17) == nil)

        let mvn = try schema("MeanVarianceNormalization", 13)
        #expect(mvn.functionBodies.map(\.opset) == [13, 18])
        #expect(mvn.functionBody(forOpset: 17)?.opset == 13)
        #expect(mvn.functionBody(forOpset: 18)?.opset == 18)

        #expect(registry.allSchemas.filter(\.hasFunction).count == 42)
        #expect(registry.allSchemas.filter(\.hasContextDependentFunction).count == 34)
    }

    @Test func readsMLOperators() throws {
        let labelEncoder = try schema("LabelEncoder", 4, domain: OperatorDomain.ml)
        #expect(labelEncoder.domain == "ai.onnx.ml")
        #expect(labelEncoder.attribute(named: "default_tensor")?.type == .tensor)
        #expect(labelEncoder.attribute(named: "keys_strings")?.type == .strings)
        #expect(labelEncoder.attribute(named: "default_string")?.defaultValue == .value(.string(Array("_Unused".utf8))))
        // A negative zero default keeps its sign.
        guard case .value(.float(let zero))? = labelEncoder.attribute(named: "default_float")?.defaultValue else {
            Issue.record("default_float should have a FLOAT default")
            return
        }
        #expect(zero == 0 && zero.sign == .minus)
        #expect(registry.schema(domain: "ai.onnx.ml", op: "TreeEnsemble", opset: 5) != nil)
        #expect(registry.schema(domain: "ai.onnx.ml", op: "TreeEnsembleRegressor", opset: 3)?.sinceVersion == 3)
        #expect(labelEncoder.description == "ai.onnx.ml::LabelEncoder-4")
    }

    @Test func readsSupportLevelAndDeterminism() throws {
        #expect(try schema("RandomNormal", 1).determinism == .nonDeterministic)
        #expect(try schema("Relu", 14).determinism == .deterministic)
        #expect(try schema("DepthToSpace", 28).determinism == .unknown)
        let experimental = registry.allSchemas.filter { $0.supportLevel == .experimental }.map(\.description)
        #expect(experimental == ["Upsample-1", "ai.onnx.preview::FlexAttention-1"])
    }
}
