#!/usr/bin/env python3
"""Write Kiln's committed test fixtures: small ONNX models that together use every
part of onnx.proto a lossless codec has to keep.

Usage: make_fixtures.py --out Fixtures [--check]

Every model is built with fixed seeds and serialized by the protobuf runtime, so
the output is byte-for-byte reproducible for a given onnx/protobuf version. Next
to the models the script writes MANIFEST.json: for each fixture a description,
whether onnx.checker.check_model(full_check=True) accepts it, whether its bytes
are the canonical serialization (python protobuf re-serializes them unchanged),
and whether the interop suite runs it through onnxruntime. The manifest records
what the script observed; it is not a list of expected Kiln outputs.

--check regenerates into a temporary folder and fails if anything differs from
--out (use it in CI to catch hand edits or stale fixtures).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np
import onnx
from onnx import (
    AttributeProto,
    GraphProto,
    ModelProto,
    NodeProto,
    OperatorSetIdProto,
    StringStringEntryProto,
    TensorProto,
    TypeProto,
)
from onnx import helper as h
from onnx import numpy_helper as nh

PRODUCER = "kiln-fixtures"
F = TensorProto.FLOAT


# ----------------------------------------------------------------------------
# small helpers


def opset(domain: str, version: int) -> OperatorSetIdProto:
    return h.make_operatorsetid(domain, version)


def model(graph: GraphProto, ir: int, opsets, **kw) -> ModelProto:
    m = h.make_model(graph, opset_imports=opsets, producer_name=PRODUCER, **kw)
    m.ir_version = ir
    return m


def meta(**kv) -> list[StringStringEntryProto]:
    return [StringStringEntryProto(key=k, value=v) for k, v in kv.items()]


def tensor(name: str, arr: np.ndarray) -> TensorProto:
    """A tensor stored as raw_data (what numpy_helper.from_array produces)."""
    return nh.from_array(np.ascontiguousarray(arr), name)


def vi(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return h.make_tensor_value_info(name, elem, shape)


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint((field << 3) | wire)


def ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return key(field, 2) + varint(len(payload)) + payload


def with_unknown(msg, extra: bytes):
    """Return a copy of msg whose serialization ends with the raw bytes `extra`
    (fields msg's schema does not know; protobuf keeps them as unknown fields)."""
    out = type(msg)()
    out.ParseFromString(msg.SerializeToString() + extra)
    return out


# ----------------------------------------------------------------------------
# fixtures; each builder returns (ModelProto or raw bytes, description)


def build_mlp():
    """X[batch,16] -> (MatMul, Add, Relu) x2 -> MatMul, Add -> Y[batch,4]."""
    rng = np.random.default_rng(1)
    sizes = [16, 32, 8, 4]
    nodes, inits = [], []
    cur = "X"
    for i in range(3):
        w = (rng.standard_normal((sizes[i], sizes[i + 1])) * 0.3).astype(np.float32)
        b = (rng.standard_normal(sizes[i + 1]) * 0.1).astype(np.float32)
        inits += [tensor(f"fc{i}.weight", w), tensor(f"fc{i}.bias", b)]
        nodes.append(h.make_node("MatMul", [cur, f"fc{i}.weight"], [f"fc{i}.mm"], name=f"fc{i}/MatMul"))
        out = "Y" if i == 2 else f"fc{i}.out"
        nodes.append(h.make_node("Add", [f"fc{i}.mm", f"fc{i}.bias"], [out if i == 2 else f"fc{i}.add"], name=f"fc{i}/Add"))
        if i < 2:
            nodes.append(h.make_node("Relu", [f"fc{i}.add"], [out], name=f"fc{i}/Relu"))
        cur = out
    g = h.make_graph(nodes, "mlp", [vi("X", F, ["batch", 16])], [vi("Y", F, ["batch", 4])], inits)
    m = model(g, 8, [opset("", 17)], doc_string="A three-layer perceptron (Kiln demo model).")
    return m, "3-layer MLP, float32 weights in raw_data; used by `make demo`"


def build_cnn():
    """Exported-like small CNN: Conv/BatchNormalization/Relu/MaxPool x2, GAP, Flatten, Gemm."""
    rng = np.random.default_rng(2)
    nodes, inits = [], []

    def conv_bn_relu(idx: int, cin: int, cout: int, x: str) -> str:
        p = f"features.{idx}"
        w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.01).astype(np.float32)
        inits.extend([
            tensor(f"{p}.conv.weight", w),
            tensor(f"{p}.conv.bias", b),
            tensor(f"{p}.bn.weight", (1 + 0.1 * rng.standard_normal(cout)).astype(np.float32)),
            tensor(f"{p}.bn.bias", (0.1 * rng.standard_normal(cout)).astype(np.float32)),
            tensor(f"{p}.bn.running_mean", (0.1 * rng.standard_normal(cout)).astype(np.float32)),
            tensor(f"{p}.bn.running_var", (0.5 + rng.random(cout)).astype(np.float32)),
        ])
        s = f"/features/features.{idx}"
        nodes.extend([
            h.make_node("Conv", [x, f"{p}.conv.weight", f"{p}.conv.bias"], [f"{s}/conv/Conv_output_0"],
                        name=f"{s}/conv/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
                        dilations=[1, 1], group=1),
            h.make_node("BatchNormalization",
                        [f"{s}/conv/Conv_output_0", f"{p}.bn.weight", f"{p}.bn.bias", f"{p}.bn.running_mean",
                         f"{p}.bn.running_var"], [f"{s}/bn/BatchNormalization_output_0"],
                        name=f"{s}/bn/BatchNormalization", epsilon=1e-5, momentum=0.9),
            h.make_node("Relu", [f"{s}/bn/BatchNormalization_output_0"], [f"{s}/relu/Relu_output_0"],
                        name=f"{s}/relu/Relu"),
            h.make_node("MaxPool", [f"{s}/relu/Relu_output_0"], [f"{s}/pool/MaxPool_output_0"],
                        name=f"{s}/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        ])
        return f"{s}/pool/MaxPool_output_0"

    x = conv_bn_relu(0, 3, 8, "input")
    x = conv_bn_relu(1, 8, 16, x)
    fc_w = (rng.standard_normal((10, 16)) * 0.25).astype(np.float32)
    fc_b = (rng.standard_normal(10) * 0.01).astype(np.float32)
    inits += [tensor("classifier.weight", fc_w), tensor("classifier.bias", fc_b)]
    nodes += [
        h.make_node("GlobalAveragePool", [x], ["/avgpool/GlobalAveragePool_output_0"], name="/avgpool/GlobalAveragePool"),
        h.make_node("Flatten", ["/avgpool/GlobalAveragePool_output_0"], ["/Flatten_output_0"], name="/Flatten", axis=1),
        h.make_node("Gemm", ["/Flatten_output_0", "classifier.weight", "classifier.bias"], ["logits"],
                    name="/classifier/Gemm", alpha=1.0, beta=1.0, transB=1),
    ]
    g = h.make_graph(nodes, "main_graph", [vi("input", F, ["N", 3, 32, 32])], [vi("logits", F, ["N", 10])], inits)
    m = h.make_model(g, opset_imports=[opset("", 17)], producer_name="pytorch", producer_version="2.5.0")
    m.ir_version = 8
    return m, "exported-like CNN (Conv/BatchNormalization/Relu/MaxPool/GlobalAveragePool/Flatten/Gemm), real weights"


def build_control_flow():
    """If, Loop and Scan whose bodies read outer-scope values (two levels deep)."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal(3).astype(np.float32)
    then_g = h.make_graph([h.make_node("Add", ["x", "w"], ["then_out"])], "then_body", [], [vi("then_out", F, [3])])
    else_g = h.make_graph([h.make_node("Mul", ["x", "w"], ["else_out"])], "else_body", [], [vi("else_out", F, [3])])
    # A nested If inside the Loop body: reads `x` (main graph) and `acc_in` (loop body).
    inner_then = h.make_graph([h.make_node("Sub", ["acc_in", "x"], ["inner_then_out"])], "inner_then", [],
                              [vi("inner_then_out", F, [3])])
    inner_else = h.make_graph([h.make_node("Identity", ["acc_in"], ["inner_else_out"])], "inner_else", [],
                              [vi("inner_else_out", F, [3])])
    loop_body = h.make_graph(
        [
            h.make_node("Add", ["acc_in", "w"], ["acc_sum"]),
            h.make_node("If", ["cond"], ["acc_out"], then_branch=inner_then, else_branch=inner_else),
            h.make_node("Identity", ["cond_in"], ["cond_out"]),
            h.make_node("Mul", ["acc_sum", "x"], ["scan_piece"]),
        ],
        "loop_body",
        [vi("iter", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("acc_in", F, [3])],
        [vi("cond_out", TensorProto.BOOL, []), vi("acc_out", F, [3]), vi("scan_piece", F, [3])],
    )
    scan_body = h.make_graph(
        [h.make_node("Mul", ["elem", "w"], ["scaled"]), h.make_node("Add", ["state", "scaled"], ["state_out"]),
         h.make_node("Identity", ["state_out"], ["scan_elem_out"])],
        "scan_body",
        [vi("state", F, [3]), vi("elem", F, [3])],
        [vi("state_out", F, [3]), vi("scan_elem_out", F, [3])],
    )
    nodes = [
        h.make_node("If", ["cond"], ["if_out"], name="if", then_branch=then_g, else_branch=else_g),
        # cond input of Loop left empty: an omitted optional input.
        h.make_node("Loop", ["n", "", "x"], ["loop_acc", "loop_scan"], name="loop", body=loop_body),
        h.make_node("Scan", ["x", "xs"], ["scan_state", "scan_out"], name="scan", body=scan_body, num_scan_inputs=1),
    ]
    g = h.make_graph(
        nodes, "control_flow",
        [vi("cond", TensorProto.BOOL, []), vi("x", F, [3]), vi("n", TensorProto.INT64, []), vi("xs", F, [4, 3])],
        [vi("if_out", F, [3]), vi("loop_acc", F, [3]), vi("loop_scan", F, [None, 3]), vi("scan_state", F, [3]),
         vi("scan_out", F, [4, 3])],
        [tensor("w", w)],
    )
    return model(g, 8, [opset("", 17)]), "If/Loop/Scan with outer-scope names, nested If in Loop body, empty Loop cond input"


def build_functions():
    """Model-local functions: attribute_proto defaults, ref_attr_name, overloads,
    nested function calls, value_info and metadata on functions."""
    ref = lambda name, ref_name, typ: AttributeProto(name=name, ref_attr_name=ref_name, type=typ)  # noqa: E731
    beta = h.make_attribute("beta", 0.5)
    beta.doc_string = "bias added after scaling"
    scaled_relu = h.make_function(
        "custom.fn", "ScaledRelu", ["X"], ["Y"],
        [
            NodeProto(op_type="Constant", output=["a"], attribute=[ref("value_float", "alpha", AttributeProto.FLOAT)]),
            h.make_node("Mul", ["X", "a"], ["t"]),
            NodeProto(op_type="Constant", output=["b"], attribute=[ref("value_float", "beta", AttributeProto.FLOAT)]),
            h.make_node("Add", ["t", "b"], ["u"]),
            h.make_node("Relu", ["u"], ["Y"]),
        ],
        [opset("", 21)], attributes=["alpha"], attribute_protos=[beta],
        doc_string="Y = relu(alpha * X + beta)",
    )
    scaled_relu.value_info.extend([vi("t", F, None), vi("u", F, None)])
    scaled_relu.metadata_props.extend(meta(author="kiln", kind="activation"))
    leaky = h.make_function(
        "custom.fn", "ScaledRelu", ["X"], ["Y"],
        [NodeProto(op_type="LeakyRelu", input=["X"], output=["Y"],
                   attribute=[ref("alpha", "alpha", AttributeProto.FLOAT)])],
        [opset("", 21)], attributes=["alpha"],
    )
    leaky.overload = "leaky"
    block = h.make_function(
        "custom.fn", "Block", ["X", "B"], ["Y", "Z"],
        [
            h.make_node("Add", ["X", "B"], ["s"]),
            NodeProto(op_type="ScaledRelu", domain="custom.fn", input=["s"], output=["Y"],
                      attribute=[ref("alpha", "gain", AttributeProto.FLOAT)]),
            NodeProto(op_type="ScaledRelu", domain="custom.fn", overload="leaky", input=["Y"], output=["Z"],
                      attribute=[h.make_attribute("alpha", 0.1)]),
        ],
        [opset("", 21), opset("custom.fn", 1)], attributes=["gain"],
    )
    nodes = [
        h.make_node("ScaledRelu", ["X"], ["r1"], domain="custom.fn", name="sr_default", alpha=2.0),
        h.make_node("ScaledRelu", ["X"], ["r2"], domain="custom.fn", name="sr_leaky", overload="leaky", alpha=0.2),
        h.make_node("ScaledRelu", ["X"], ["r3"], domain="custom.fn", name="sr_beta", alpha=1.0, beta=-1.0),
        h.make_node("Block", ["r1", "r2"], ["Y", "Z"], domain="custom.fn", name="block", gain=3.0),
        h.make_node("Add", ["Y", "r3"], ["W"], name="sum"),
    ]
    g = h.make_graph(nodes, "functions", [vi("X", F, [2, 3])], [vi("Y", F, [2, 3]), vi("Z", F, [2, 3]), vi("W", F, [2, 3])])
    m = model(g, 10, [opset("", 21), opset("custom.fn", 1)], functions=[scaled_relu, leaky, block])
    return m, "local FunctionProtos: attribute_proto, ref_attr_name, overload, nested calls, value_info, metadata_props"


def build_sparse():
    """sparse_initializer with linear and coordinate indices, Constant sparse_value, sparse types."""
    vals = nh.from_array(np.array([1.5, -2.0, 3.25], dtype=np.float32), "sp_linear")
    idx = nh.from_array(np.array([1, 6, 10], dtype=np.int64), "sp_linear_indices")
    sp_linear = h.make_sparse_tensor(vals, idx, [3, 4])
    vals2 = h.make_tensor("sp_coo", TensorProto.INT32, [2], [7, -9])  # typed int32_data
    idx2 = nh.from_array(np.array([[0, 1], [2, 3]], dtype=np.int64), "sp_coo_indices")
    sp_coo = h.make_sparse_tensor(vals2, idx2, [3, 4])
    const_sp = h.make_sparse_tensor(
        nh.from_array(np.array([4.0, 5.0], dtype=np.float32), "c_values"),
        nh.from_array(np.array([0, 5], dtype=np.int64), "c_indices"), [2, 3])
    nodes = [
        h.make_node("Constant", [], ["c_sparse"], name="const_sparse", sparse_value=const_sp),
        h.make_node("Relu", ["X"], ["Y"], name="relu"),
    ]
    sp_type = h.make_sparse_tensor_type_proto(F, [3, 4])
    g = h.make_graph(nodes, "sparse", [vi("X", F, [3, 4])], [vi("Y", F, [3, 4])],
                     value_info=[h.make_value_info("sp_linear", sp_type)],
                     sparse_initializer=[sp_linear, sp_coo])
    return model(g, 10, [opset("", 21)]), "sparse_initializer (linear + COO indices, raw and typed values), Constant sparse_value, sparse_tensor_type"


def build_metadata():
    """metadata_props and doc strings everywhere; explicitly-set empty optional fields."""
    w = tensor("w", np.arange(6, dtype=np.float32).reshape(2, 3))
    w.doc_string = "a weight"
    w.metadata_props.extend(meta(origin="arange", quant="none"))
    relu = h.make_node("Relu", ["X"], ["r"], name="relu", doc_string="node doc")
    relu.metadata_props.extend(meta(source="layer1.py:12", note="ünïcødé ✓"))
    add = h.make_node("Add", ["r", "w"], ["Y"])
    add.name = ""  # present but empty
    add.domain = ""
    add.doc_string = ""
    leaky = h.make_node("LeakyRelu", ["Y"], ["Z"], name="leaky", alpha=0.25)
    leaky.attribute[0].doc_string = "attribute doc"
    x = vi("X", F, [2, 3])
    x.doc_string = "input doc"
    x.metadata_props.extend(meta(range="[-1, 1]"))
    y = vi("Y", F, [2, 3])
    y.doc_string = ""
    r = vi("r", F, [2, 3])
    r.metadata_props.extend(meta(kind="intermediate"))
    g = h.make_graph([relu, add, leaky], "metadata", [x], [vi("Z", F, [2, 3])], [w], doc_string="graph doc",
                     value_info=[y, r])
    g.metadata_props.extend(meta(graph_key="graph value", empty=""))
    m = model(g, 10, [opset("", 21)], doc_string="")
    m.producer_version = ""
    m.domain = "ai.kiln.fixtures"
    m.model_version = 7
    m.metadata_props.extend(meta(license="Apache-2.0", author="Kiln", **{"": "empty key"}))
    m.opset_import[0].domain = ""  # explicitly present empty domain
    return m, "metadata_props on model/graph/node/value_info/tensor, doc strings everywhere, present-but-empty fields"


def build_training():
    """training_info: initialization + algorithm graphs and their bindings."""
    w0 = np.full((3, 2), 0.5, dtype=np.float32)
    main = h.make_graph([h.make_node("MatMul", ["X", "W"], ["Y"], name="mm")], "inference",
                        [vi("X", F, [1, 3])], [vi("Y", F, [1, 2])], [tensor("W", w0), tensor("lr", np.array(0.01, np.float32))])
    init = h.make_graph(
        [h.make_node("RandomNormal", [], ["W_init"], name="init_w", shape=[3, 2], seed=7.0, scale=0.1)],
        "initialization", [], [vi("W_init", F, [3, 2])])
    algo = h.make_graph(
        [
            h.make_node("MatMul", ["X", "W"], ["Y_pred"]),
            h.make_node("Sub", ["Y_pred", "Y_true"], ["err"]),
            h.make_node("Transpose", ["X"], ["Xt"]),
            h.make_node("MatMul", ["Xt", "err"], ["grad"]),
            h.make_node("Mul", ["grad", "lr"], ["step"]),
            h.make_node("Sub", ["W", "step"], ["W_new"]),
        ],
        "algorithm", [vi("Y_true", F, [1, 2])], [vi("W_new", F, [3, 2])])
    ti = onnx.TrainingInfoProto(initialization=init, algorithm=algo,
                                initialization_binding=meta(W="W_init"), update_binding=meta(W="W_new"))
    m = model(main, 10, [opset("", 21)])
    m.training_info.append(ti)
    return m, "training_info with initialization/algorithm graphs and initialization/update bindings"


def build_quantized():
    """QDQ graph with graph.quantization_annotation."""
    nodes = [
        h.make_node("QuantizeLinear", ["X", "x_scale", "x_zp"], ["X_q"], name="q"),
        h.make_node("DequantizeLinear", ["X_q", "x_scale", "x_zp"], ["X_dq"], name="dq"),
        h.make_node("Relu", ["X_dq"], ["Y"], name="relu"),
    ]
    inits = [tensor("x_scale", np.array(0.05, np.float32)), tensor("x_zp", np.array(3, np.uint8))]
    g = h.make_graph(nodes, "quantized", [vi("X", F, [2, 4])], [vi("Y", F, [2, 4])], inits)
    for name in ("X_q", "X_dq"):
        ann = onnx.TensorAnnotation(tensor_name=name)
        ann.quant_parameter_tensor_names.extend(meta(SCALE_TENSOR="x_scale", ZERO_POINT_TENSOR="x_zp"))
        g.quantization_annotation.append(ann)
    return model(g, 10, [opset("", 21)]), "QuantizeLinear/DequantizeLinear with graph.quantization_annotation"


def build_types():
    """Symbolic/unknown dims, dim and type denotations, non-tensor types in value_info."""
    img = h.make_tensor_type_proto(F, ["batch", 3, None, "width"])
    img.denotation = "IMAGE"
    dims = img.tensor_type.shape.dim
    for d, den in zip(dims, ["DATA_BATCH", "DATA_CHANNEL", "DATA_FEATURE", "DATA_FEATURE"]):
        d.denotation = den
    x = h.make_value_info("X", img)
    unknown_rank = h.make_tensor_value_info("R_relu", F, None)  # no shape at all (value_info only)
    scalar = h.make_tensor_value_info("S", TensorProto.INT64, [])  # rank-0 shape
    seq_t = h.make_sequence_type_proto(h.make_tensor_type_proto(F, ["n"]))
    opt_t = h.make_optional_type_proto(h.make_tensor_type_proto(F, [2]))
    opt_seq = h.make_optional_type_proto(h.make_sequence_type_proto(h.make_tensor_type_proto(TensorProto.INT32, None)))
    map_t = h.make_map_type_proto(TensorProto.INT64, h.make_tensor_type_proto(F, []))
    map_seq = h.make_map_type_proto(TensorProto.STRING, h.make_sequence_type_proto(h.make_tensor_type_proto(F, [None])))
    sparse_t = h.make_sparse_tensor_type_proto(F, [10, "k"])
    opaque = TypeProto(opaque_type=TypeProto.Opaque(domain="com.kiln.test", name="Blob"))
    seq_denoted = h.make_sequence_type_proto(h.make_tensor_type_proto(TensorProto.STRING, [1]))
    seq_denoted.denotation = "TEXT"
    nodes = [
        h.make_node("Relu", ["X"], ["Xr"], name="relu"),
        h.make_node("Identity", ["Q"], ["Q_out"], name="seq_identity"),
        h.make_node("OptionalHasElement", ["O"], ["has"], name="has_elem"),
        h.make_node("Relu", ["R"], ["R_relu"], name="relu_r"),
        h.make_node("Shape", ["R_relu"], ["R_shape"], name="shape"),
    ]
    g = h.make_graph(
        nodes, "types",
        [x, vi("R", F, [None, None]), scalar, h.make_value_info("Q", seq_t), h.make_value_info("O", opt_t),
         h.make_value_info("M", map_t)],
        [h.make_value_info("Xr", img), h.make_value_info("Q_out", seq_t), vi("has", TensorProto.BOOL, []),
         vi("R_shape", TensorProto.INT64, [None])],
        value_info=[h.make_value_info("opt_seq", opt_seq), h.make_value_info("map_seq", map_seq),
                    h.make_value_info("sparse", sparse_t), h.make_value_info("opaque", opaque),
                    h.make_value_info("text", seq_denoted), unknown_rank],
    )
    return model(g, 10, [opset("", 21)]), "symbolic/unknown dims, dim + type denotations, sequence/optional/map/sparse/opaque types"


def _dtype_values():
    """(data type, numpy array) pairs covering every TensorProto data type except
    STRING (handled separately), with awkward values: NaN, -0, inf, extremes, odd counts."""
    import ml_dtypes as mld

    fl = [0.0, -0.0, 1.5, -2.25, np.nan, np.inf, -np.inf, 1e-45, 3.0e38]
    small = [0.0, -0.0, 0.5, -1.0, 1.5, 2.0, -3.0]
    out = {
        TensorProto.FLOAT: np.array(fl, np.float32),
        TensorProto.DOUBLE: np.array(fl + [5e-324, 1.7976931348623157e308], np.float64),
        TensorProto.FLOAT16: np.array(fl[:7] + [6.0e-8, 65504.0], np.float16),
        TensorProto.BFLOAT16: np.array(fl[:7] + [1e-40, 3.0e38], mld.bfloat16),
        TensorProto.FLOAT8E4M3FN: np.array(small + [448.0, np.nan], mld.float8_e4m3fn),
        TensorProto.FLOAT8E4M3FNUZ: np.array(small[:1] + small[2:] + [240.0, np.nan], mld.float8_e4m3fnuz),
        TensorProto.FLOAT8E5M2: np.array(small + [57344.0, np.inf, np.nan], mld.float8_e5m2),
        TensorProto.FLOAT8E5M2FNUZ: np.array(small[:1] + small[2:] + [57344.0, np.nan], mld.float8_e5m2fnuz),
        TensorProto.FLOAT8E8M0: np.array([1.0, 2.0, 0.5, 2.0**-127, 2.0**127, np.nan], mld.float8_e8m0fnu),
        TensorProto.FLOAT4E2M1: np.array([0.0, -0.0, 0.5, 1.5, -6.0, 6.0, 3.0], mld.float4_e2m1fn),  # odd count
        TensorProto.FLOAT6E2M3: np.array([0.0, 0.125, -7.5, 1.0, 3.25], mld.float6_e2m3fn),  # not a multiple of 4
        TensorProto.FLOAT6E3M2: np.array([0.0, 28.0, -0.0625, 1.5, -3.0, 0.25, 12.0], mld.float6_e3m2fn),
        TensorProto.INT4: np.array([-8, 7, 0, -1, 3], mld.int4),  # odd count
        TensorProto.UINT4: np.array([0, 15, 1, 8, 9], mld.uint4),
        TensorProto.INT2: np.array([-2, 1, 0, -1, 1, 0, -2], mld.int2),  # 7 elements: 2 bytes, padded
        TensorProto.UINT2: np.array([0, 3, 1, 2, 3], mld.uint2),
        TensorProto.BOOL: np.array([True, False, True, True], np.bool_),
        TensorProto.COMPLEX64: np.array([1 + 2j, -0.5 + 0j, complex(np.nan, 1), complex(0, -np.inf)], np.complex64),
        TensorProto.COMPLEX128: np.array([1 + 2j, -0.5 - 1e-300j, complex(np.inf, np.nan)], np.complex128),
    }
    for t, npt in [(TensorProto.INT8, np.int8), (TensorProto.INT16, np.int16), (TensorProto.INT32, np.int32),
                   (TensorProto.INT64, np.int64), (TensorProto.UINT8, np.uint8), (TensorProto.UINT16, np.uint16),
                   (TensorProto.UINT32, np.uint32), (TensorProto.UINT64, np.uint64)]:
        info = np.iinfo(npt)
        vals = [info.min, info.max, 0, 1, info.max // 3]
        if info.min < 0:
            vals.append(-1)
        out[t] = np.array(vals, npt)
    return out


_SUB_BYTE = (TensorProto.INT4, TensorProto.UINT4, TensorProto.INT2, TensorProto.UINT2, TensorProto.FLOAT4E2M1,
             TensorProto.FLOAT6E2M3, TensorProto.FLOAT6E3M2)


def _typed(name: str, dt: int, arr: np.ndarray) -> TensorProto:
    """The same values in the data type's typed field (float_data, int32_data, ...)."""
    t = TensorProto(name=name, data_type=dt, dims=list(arr.shape))
    if dt in (TensorProto.FLOAT,):
        t.float_data.extend(arr.tolist())
    elif dt == TensorProto.COMPLEX64:
        t.float_data.extend(np.ascontiguousarray(arr).view(np.float32).tolist())
    elif dt == TensorProto.DOUBLE:
        t.double_data.extend(arr.tolist())
    elif dt == TensorProto.COMPLEX128:
        t.double_data.extend(np.ascontiguousarray(arr).view(np.float64).tolist())
    elif dt == TensorProto.INT64:
        t.int64_data.extend(int(v) for v in arr)
    elif dt in (TensorProto.UINT32, TensorProto.UINT64):
        t.uint64_data.extend(int(v) for v in arr)
    elif dt in (TensorProto.INT32, TensorProto.INT16, TensorProto.INT8, TensorProto.UINT16, TensorProto.UINT8,
                TensorProto.BOOL):
        t.int32_data.extend(int(v) for v in arr)
    elif dt in (TensorProto.FLOAT16, TensorProto.BFLOAT16):
        t.int32_data.extend(int(v) for v in arr.view(np.uint16))
    elif arr.dtype.itemsize == 1 and dt not in _SUB_BYTE:
        # float8 types: one element per int32, bit pattern (keeps NaN payloads and -0).
        t.int32_data.extend(int(v) for v in arr.view(np.uint8))
    else:
        # 8/6/4/2-bit types: let onnx's helper do the packing the spec describes.
        ints = arr.astype(np.int32) if dt in (TensorProto.INT4, TensorProto.UINT4, TensorProto.INT2,
                                              TensorProto.UINT2) else arr.astype(np.float32)
        t = h.make_tensor(name, dt, list(arr.shape), ints.tolist(), raw=False)
        assert not t.raw_data
    back = nh.to_array(t)
    assert back.tobytes() == arr.tobytes(), f"typed encoding of {name} does not round-trip"
    return t


def build_dtypes():
    """Initializers in every ONNX data type, as raw_data and as typed fields."""
    inits = []
    for dt, arr in sorted(_dtype_values().items()):
        n = TensorProto.DataType.Name(dt).lower()
        raw = nh.from_array(arr, f"{n}_raw")
        assert raw.HasField("raw_data")
        inits.append(raw)
        inits.append(_typed(f"{n}_typed", dt, arr))
    strings = [b"hello", b"", "\u00fcn\u00efc\u00f8d\u00e9 \u2713".encode(), b"tab\tnul\x00", b"\xff\xfe not utf-8"]
    inits.append(h.make_tensor("string_typed", TensorProto.STRING, [5], strings))
    inits.append(h.make_tensor("string_2d", TensorProto.STRING, [2, 1], [b"a", b"b"]))
    # Shapes: scalar, empty along one axis, rank 3.
    inits.append(tensor("float_scalar", np.array(3.5, np.float32)))
    inits.append(tensor("float_empty", np.zeros((2, 0, 3), np.float32)))
    inits.append(TensorProto(name="float_empty_typed", data_type=F, dims=[0]))
    inits.append(tensor("int8_rank3", np.arange(24, dtype=np.int8).reshape(2, 3, 4)))
    g = h.make_graph([h.make_node("Identity", ["float_raw"], ["Y"], name="id")], "dtypes", [],
                     [vi("Y", F, [9])], inits)
    return model(g, 13, [opset("", 25)]), "initializers in all 28 data types, raw_data and typed fields, special values, scalar/empty shapes"


def build_attributes():
    """Attributes of every AttributeProto type, on standard ops and on a custom op."""
    small_g = h.make_graph([h.make_node("Neg", ["a"], ["b"])], "attr_graph", [vi("a", F, [1])], [vi("b", F, [1])])
    small_g2 = h.make_graph([h.make_node("Abs", ["a"], ["b"])], "attr_graph2", [vi("a", F, [1])], [vi("b", F, [1])])
    sp = h.make_sparse_tensor(nh.from_array(np.array([9.0], np.float32), "sv"),
                              nh.from_array(np.array([2], np.int64), "si"), [4])
    sp2 = h.make_sparse_tensor(nh.from_array(np.array([1, 2], np.int64), "sv2"),
                               nh.from_array(np.array([0, 3], np.int64), "si2"), [5])
    tp = h.make_tensor_type_proto(TensorProto.INT8, ["n", 4])
    tps = [tp, h.make_sequence_type_proto(h.make_tensor_type_proto(F, None))]
    everything = h.make_node(
        "Everything", ["X"], ["E"], domain="com.kiln.test", name="everything",
        f=-0.0, i=-(2**63), s=b"bytes \xff\x00", t=tensor("attr_t", np.array([[1, 2]], np.int16)), g=small_g,
        sparse_tensor=sp, tp=tp,
        floats=[1.0, float("nan"), float("inf"), -1e-40], ints=[0, -1, 2**62], strings=[b"", b"x", "\u00e9".encode()],
        tensors=[tensor("ta", np.array([1.0], np.float64)), h.make_tensor("tb", TensorProto.STRING, [1], [b"s"])],
        graphs=[small_g, small_g2], sparse_tensors=[sp, sp2], type_protos=tps,
    )
    # Empty lists are told apart only by their type field.
    for name, typ in [("empty_ints", AttributeProto.INTS), ("empty_floats", AttributeProto.FLOATS),
                      ("empty_strings", AttributeProto.STRINGS), ("empty_graphs", AttributeProto.GRAPHS)]:
        everything.attribute.append(AttributeProto(name=name, type=typ))
    nodes = [
        everything,
        h.make_node("Constant", [], ["c_float"], value_float=1.25),
        h.make_node("Constant", [], ["c_floats"], value_floats=[1.0, 2.0]),
        h.make_node("Constant", [], ["c_int"], value_int=-5),
        h.make_node("Constant", [], ["c_ints"], value_ints=[3, 1, 4]),
        h.make_node("Constant", [], ["c_string"], value_string="abc"),
        h.make_node("Constant", [], ["c_strings"], value_strings=["a", "", "c"]),
        h.make_node("Constant", [], ["c_tensor"], value=h.make_tensor("", TensorProto.FLOAT, [2], [0.5, 1.5])),
        h.make_node("Constant", [], ["c_sparse"], sparse_value=sp),
        h.make_node("Optional", [], ["c_none"], type=h.make_tensor_type_proto(F, [2])),
        h.make_node("Cast", ["X"], ["X16"], to=TensorProto.FLOAT16),
        h.make_node("Transpose", ["X"], ["Xt"], perm=[1, 0]),
        h.make_node("LeakyRelu", ["X"], ["Xl"], alpha=0.01),
        h.make_node("Resize", ["X", "", "c_floats"], ["Xr"], mode="nearest"),
    ]
    g = h.make_graph(nodes, "attributes", [vi("X", F, [2, 2])],
                     [vi("E", F, [None]), vi("X16", TensorProto.FLOAT16, [2, 2]), vi("Xt", F, [2, 2]),
                      vi("Xl", F, [2, 2]), vi("Xr", F, [2, 4])])
    m = model(g, 10, [opset("", 21), opset("com.kiln.test", 1)])
    return m, "attributes of all 14 types (custom op + Constant/Optional/Cast/...), empty lists, special floats, binary strings"


def build_optional_io():
    """Omitted optional inputs/outputs ("") on standard ops; runnable in onnxruntime."""
    rng = np.random.default_rng(4)
    hidden = 4
    W = (rng.standard_normal((1, 4 * hidden, 3)) * 0.3).astype(np.float32)
    R = (rng.standard_normal((1, 4 * hidden, hidden)) * 0.3).astype(np.float32)
    nodes = [
        h.make_node("Clip", ["X", "", "clip_max"], ["clipped"], name="clip_no_min"),
        h.make_node("Resize", ["clipped", "", "scales"], ["resized"], name="resize_no_roi", mode="nearest"),
        h.make_node("Dropout", ["resized"], ["dropped", ""], name="dropout_no_mask"),
        h.make_node("LSTM", ["seq", "W", "R", "", "", "", "", ""], ["", "Y_h"], name="lstm", hidden_size=hidden),
    ]
    inits = [tensor("clip_max", np.array(0.5, np.float32)), tensor("scales", np.array([1, 1, 2, 2], np.float32)),
             tensor("W", W), tensor("R", R)]
    g = h.make_graph(nodes, "optional_io", [vi("X", F, [1, 1, 2, 2]), vi("seq", F, [5, 1, 3])],
                     [vi("dropped", F, [1, 1, 4, 4]), vi("Y_h", F, [1, 1, hidden])], inits)
    return model(g, 8, [opset("", 17)]), "empty optional inputs and outputs (Clip, Resize, Dropout, LSTM)"


def build_rare_fields():
    """Rarely used parts of onnx.proto: device configurations and sharding,
    TensorProto.segment, explicit data_location=DEFAULT, opaque types."""
    w = tensor("w", np.ones((2, 2), np.float32))
    w.data_location = TensorProto.DEFAULT  # explicitly set default enum value
    seg = h.make_tensor("segmented", F, [2], [1.0, 2.0])
    seg.segment.begin = 0
    seg.segment.end = 2
    node = h.make_node("MatMul", ["X", "w"], ["Y"], name="mm")
    dc = node.device_configurations.add()
    dc.configuration_id = "mesh2"
    dc.pipeline_stage = 1
    spec = dc.sharding_spec.add()
    spec.tensor_name = "X"
    spec.device.extend([0, 1])
    spec.index_to_device_group_map.add(key=0, value=[0, 1])
    sd = spec.sharded_dim.add(axis=0)
    sd.simple_sharding.add(dim_param="batch", num_shards=2)
    sd.simple_sharding.add(dim_value=4, num_shards=2)
    g = h.make_graph([node], "rare", [vi("X", F, ["batch", 2])], [vi("Y", F, ["batch", 2])], [w, seg])
    m = model(g, 11, [opset("", 21)])
    m.configuration.add(name="mesh2", num_devices=2, device=["cuda:0", "cuda:1"])
    return m, "DeviceConfigurationProto, NodeDeviceConfigurationProto/sharding, TensorProto.segment, explicit DEFAULT data_location"


def build_unknown_fields():
    """Fields unknown to onnx.proto appended to many messages (all wire types but groups)."""
    m, _ = build_mlp()
    m.ir_version = 10
    u = lambda tag: (ld(1001, b"kiln-unknown-" + tag.encode()) + key(1002, 0) + varint(150)  # noqa: E731
                     + key(1003, 1) + struct.pack("<d", 2.5) + key(1004, 5) + struct.pack("<f", -1.0)
                     + key(1005, 0) + varint(-1))
    g = m.graph
    g.node[0].CopyFrom(with_unknown(g.node[0], u("node")))
    leaky = h.make_node("LeakyRelu", ["Y0"], ["Y"], alpha=0.5)
    leaky.attribute[0].CopyFrom(with_unknown(leaky.attribute[0], u("attribute")))
    g.node[-1].output[0] = "Y0"
    g.node.append(leaky)
    g.initializer[0].CopyFrom(with_unknown(g.initializer[0], u("tensor")))
    g.input[0].CopyFrom(with_unknown(g.input[0], u("value_info")))
    g.input[0].type.CopyFrom(with_unknown(g.input[0].type, u("type")))
    dim = g.input[0].type.tensor_type.shape.dim[0]
    dim.CopyFrom(with_unknown(dim, u("dim")))
    m.opset_import[0].CopyFrom(with_unknown(m.opset_import[0], u("opset")))
    m.metadata_props.append(with_unknown(StringStringEntryProto(key="k", value="v"), u("entry")))
    fn = h.make_function("custom.fn", "Twice", ["X"], ["Y"], [h.make_node("Add", ["X", "X"], ["Y"])], [opset("", 17)])
    m.functions.append(with_unknown(fn, u("function")))
    m.opset_import.append(opset("custom.fn", 1))
    m.graph.CopyFrom(with_unknown(g, u("graph")))
    return with_unknown(m, u("model")), "unknown fields (varint, fixed64, fixed32, length-delimited, negative varint) on 11 message types"


def build_unknown_group():
    """An unknown field with the deprecated group wire type (3/4) on the model and a node."""
    m, _ = build_mlp()
    group = key(1010, 3) + key(1, 0) + varint(5) + ld(2, b"in-group") + key(1010, 4)
    m.graph.node[1].CopyFrom(with_unknown(m.graph.node[1], group))
    return with_unknown(m, group), "unknown group-encoded fields (wire types 3/4) on ModelProto and NodeProto"


def build_noncanonical():
    """Valid protobuf that is not in canonical form: fields out of order, a split
    embedded message (must merge), a packed encoding of an unpacked repeated field,
    an overlong varint, a duplicated scalar (last one wins). Decoders must accept it;
    the canonical re-encoding differs in bytes but not in content."""
    m, _ = build_mlp()
    graph_bytes = m.graph.SerializeToString()
    half = GraphProto()
    half.node.extend(m.graph.node)
    rest = GraphProto()
    rest.CopyFrom(m.graph)
    del rest.node[:]
    # A tensor whose dims are written packed (dims is unpacked in proto2 onnx.proto).
    extra = TensorProto(name="packed_dims", data_type=F, raw_data=struct.pack("<6f", *range(6)))
    dims_packed = ld(1, varint(2) + varint(3))
    extra_bytes = dims_packed + extra.SerializeToString()
    out = b""
    out += key(7, 2) + varint(len(half.SerializeToString())) + half.SerializeToString()  # graph, part 1
    out += key(1, 0) + varint(3)  # ir_version 3, overwritten below
    for op in m.opset_import:
        out += ld(8, op.SerializeToString())
    out += ld(2, PRODUCER.encode())
    out += ld(7, rest.SerializeToString())  # graph, part 2: merged into part 1
    out += ld(7, ld(5, extra_bytes))  # graph, part 3: one more initializer
    out += key(1, 0) + b"\x88\x80\x80\x00"  # ir_version 8 as an overlong varint; last value wins
    out += ld(6, b"non-canonical encoding")
    check = ModelProto()
    check.ParseFromString(out)
    assert len(check.graph.node) == len(m.graph.node) and check.ir_version == 8
    assert list(check.graph.initializer[-1].dims) == [2, 3]
    assert check.SerializeToString() != out and len(graph_bytes) > 0
    return out, "non-canonical but valid encoding: field order, split message, packed dims, overlong varint, duplicate scalar"


def build_external(out_dir: str):
    """external/model.onnx + external/model.data: MLP whose large tensors live in the data file."""
    m, _ = build_mlp()
    m.graph.name = "mlp_external"
    sub = os.path.join(out_dir, "external")
    os.makedirs(sub, exist_ok=True)
    data = bytearray()
    for i, t in enumerate(m.graph.initializer):
        if len(t.raw_data) < 256:
            continue  # small tensors stay inline
        if len(data) % 4096:
            data += b"\0" * (4096 - len(data) % 4096)
        offset, raw = len(data), t.raw_data
        data += raw
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        entries = {"location": "model.data", "offset": str(offset), "length": str(len(raw))}
        if i == 0:
            del entries["offset"]  # offset 0 may be omitted
        for k, v in entries.items():
            t.external_data.add(key=k, value=v)
    with open(os.path.join(sub, "model.data"), "wb") as f:
        f.write(bytes(data))
    return m, "MLP with 3 tensors in external/model.data (4096-aligned offsets, one entry without offset), the rest inline"


# ----------------------------------------------------------------------------
# driver

FIXTURES = {
    # name: (builder, runs in onnxruntime)
    "mlp.onnx": (build_mlp, True),
    "cnn.onnx": (build_cnn, True),
    "control_flow.onnx": (build_control_flow, True),
    "functions.onnx": (build_functions, True),
    "sparse.onnx": (build_sparse, True),
    "metadata.onnx": (build_metadata, True),
    "training.onnx": (build_training, True),
    "quantized.onnx": (build_quantized, True),
    "types.onnx": (build_types, False),
    "dtypes.onnx": (build_dtypes, True),
    "attributes.onnx": (build_attributes, False),
    "optional_io.onnx": (build_optional_io, True),
    "rare_fields.onnx": (build_rare_fields, True),
    "unknown_fields.onnx": (build_unknown_fields, True),
    "unknown_group.onnx": (build_unknown_group, True),
    "noncanonical.onnx": (build_noncanonical, True),
    "external/model.onnx": (None, True),
}


def check(path: str) -> str | None:
    try:
        onnx.checker.check_model(path, full_check=True)
        return None
    except Exception as e:  # noqa: BLE001 - report whatever the checker raised
        return str(e).strip().splitlines()[0][:300]


def generate(out_dir: str) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    manifest = {}
    for name, (builder, ort) in FIXTURES.items():
        if name == "external/model.onnx":
            msg, desc = build_external(out_dir)
        else:
            msg, desc = builder()
        data = msg if isinstance(msg, bytes) else msg.SerializeToString()
        path = os.path.join(out_dir, name)
        with open(path, "wb") as f:
            f.write(data)
        parsed = ModelProto()
        parsed.ParseFromString(data)
        err = check(path)
        manifest[name] = {
            "description": desc,
            "checker": "pass" if err is None else "fail",
            **({"checker_error": err} if err else {}),
            "canonical": parsed.SerializeToString() == data,
            "onnxruntime": ort,
            "bytes": len(data),
        }
    with open(os.path.join(out_dir, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", action="store_true", help="verify --out is up to date instead of writing it")
    args = ap.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(tmp)
            cmp = filecmp.dircmp(tmp, args.out)
            bad = _diff(cmp, "")
            if bad:
                print("fixtures are stale: " + ", ".join(bad), file=sys.stderr)
                return 1
        print("fixtures are up to date")
        return 0
    tmp = args.out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    manifest = generate(tmp)
    # Replace only what this script owns, keep anything else a person put there.
    for name in list(FIXTURES) + ["MANIFEST.json", "external/model.data"]:
        dst = os.path.join(args.out, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(tmp, name), dst)
    shutil.rmtree(tmp)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(args.out) for f in fs)
    for name, info in manifest.items():
        flag = "ok  " if info["checker"] == "pass" else "FAIL"
        print(f"  {flag} {name:28s} {info['bytes']:8d} B  canonical={info['canonical']!s:5}  {info.get('checker_error', '')}")
    print(f"make_fixtures: {len(manifest)} fixtures, {total} bytes in {args.out}")
    return 0


def _diff(cmp: filecmp.dircmp, prefix: str) -> list[str]:
    bad = [prefix + n for n in cmp.diff_files + cmp.left_only]
    for sub, c in cmp.subdirs.items():
        bad += _diff(c, prefix + sub + "/")
    return bad


if __name__ == "__main__":
    sys.exit(main())
