#!/usr/bin/env python3
"""Generates Kiln's operator schema table (Sources/KilnOpset/Generated/) from `onnx.defs`.

Reads every schema the installed `onnx` wheel defines, in every domain and every version
(`onnx.defs.get_all_schemas_with_history()`), and writes:

  SchemaTable.swift        one raw string literal holding a compact, line-based table (format below),
                           decoded once, on first use, by `SchemaTableReader` in KilnOpset
  SchemaTable.swift.stamp  the onnx version, the sha256 of SchemaTable.swift and the counts, so that
                           a test (and `make`) can detect a stale or hand-edited table cheaply

Usage:
  .venv/bin/python Scripts/gen_schemas.py            # regenerate (what `make schemas` runs)
  .venv/bin/python Scripts/gen_schemas.py --check    # regenerate in memory, fail if the files differ

Table format (Docs/Opset.md has the same description). One record per line, fields separated by one
TAB. Text fields are percent-encoded (`%`, TAB, LF, CR, `"`, `\\`, `#` and bytes outside printable
ASCII become `%XX` of their UTF-8 bytes), so a line never contains anything that could end or escape
the Swift raw string literal. An empty field is the empty string (the default domain is empty).

  V  onnx-version
  D  domain  min-version  max-version                      one per domain onnx knows
  S  domain  name  since  flags  min-in  max-in  min-out  max-out
        flags: letters, `-` when none: d deprecated, x experimental, n non-deterministic,
               u determinism unknown, f has function body, c has context-dependent function
  A  name  TYPE  r|o  [=  value...]                        attribute; `=` starts the default value:
        INT/FLOAT/STRING: one field; INTS/FLOATS/STRINGS: one field per element (zero or more);
        any other type: one field, the base64 of the serialized AttributeProto
        floats are the shortest decimal that parses back to the same float32 (`inf`, `-inf`, `nan`)
  I  name  type-string  s|o|v  h|-  min-arity              input: single/optional/variadic, homogeneous
  O  (as I)                                                output
  T  type-param  allowed-type...                           type constraint
  F  opset  base64                                         function body (serialized FunctionProto)
                                                           for that opset; one line per version
  C  opset...                                              opsets of the context-dependent function

Records A, I, O, T, F, C belong to the latest S. Schemas are sorted by (domain, name, since);
attributes by name; inputs, outputs and type constraints keep the schema's order.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import math
import struct
import sys
from pathlib import Path

import onnx
import onnx.defs
from onnx import AttributeProto
from onnx.onnx_cpp2py_export import defs as onnx_defs_cpp

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "Sources" / "KilnOpset" / "Generated"
TABLE = OUT_DIR / "SchemaTable.swift"
STAMP = OUT_DIR / "SchemaTable.swift.stamp"

# Counts the table must have for the pinned onnx version (Scripts/requirements.txt). A different
# wheel is allowed (regeneration after an upgrade) but the counts are then only printed.
EXPECTED = {"1.23.2": (659, 227)}

SAFE = set(range(0x21, 0x7F)) - {ord(c) for c in '%"\\#'} | {ord(" ")}


def esc(text: str) -> str:
    """Percent-encodes one text field (see the module docstring)."""
    out = []
    for b in text.encode("utf-8"):
        out.append(chr(b) if b in SAFE else "%{:02X}".format(b))
    return "".join(out)


def float32_text(value: float) -> str:
    """The shortest decimal that parses back to the same float32."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    bits = struct.pack("<f", value)
    for digits in range(1, 18):
        text = "{:.{}g}".format(struct.unpack("<f", bits)[0], digits)
        try:
            if struct.pack("<f", float(text)) == bits:
                return text
        except OverflowError:  # rounded past the float32 range (near FLT_MAX): more digits
            continue
    raise AssertionError(f"no float32 text for {value!r}")


ATTR_TYPE_NAMES = {v: k for k, v in AttributeProto.AttributeType.items()}


def attribute_line(attr) -> str:
    type_name = attr.type.name  # OpSchema.AttrType name, same spelling as AttributeProto's
    fields = ["A", esc(attr.name), type_name, "r" if attr.required else "o"]
    default = attr.default_value  # an AttributeProto; `type` is set only when there is a default
    if default.type != AttributeProto.UNDEFINED:
        proto_type = ATTR_TYPE_NAMES[default.type]
        assert proto_type == type_name, (attr.name, proto_type, type_name)
        fields.append("=")
        if default.type == AttributeProto.INT:
            fields.append(str(default.i))
        elif default.type == AttributeProto.FLOAT:
            fields.append(float32_text(default.f))
        elif default.type == AttributeProto.STRING:
            fields.append(esc(default.s.decode("utf-8")))
        elif default.type == AttributeProto.INTS:
            fields.extend(str(v) for v in default.ints)
        elif default.type == AttributeProto.FLOATS:
            fields.extend(float32_text(v) for v in default.floats)
        elif default.type == AttributeProto.STRINGS:
            fields.extend(esc(v.decode("utf-8")) for v in default.strings)
        else:
            fields.append(base64.b64encode(default.SerializeToString(deterministic=True)).decode())
    return "\t".join(fields)


OPTION = {"Single": "s", "Optional": "o", "Variadic": "v"}


def parameter_line(tag: str, param) -> str:
    return "\t".join([
        tag, esc(param.name), esc(param.type_str), OPTION[param.option.name],
        "h" if param.is_homogeneous else "-", str(param.min_arity),
    ])


def flags(schema) -> str:
    out = ""
    if schema.deprecated:
        out += "d"
    if schema.support_level == onnx.defs.OpSchema.SupportType.EXPERIMENTAL:
        out += "x"
    determinism = schema.node_determinism
    if determinism == onnx.defs.OpSchema.NodeDeterminism.NonDeterministic:
        out += "n"
    elif determinism == onnx.defs.OpSchema.NodeDeterminism.Unknown:
        out += "u"
    if schema.has_function:
        out += "f"
    if schema.has_context_dependent_function:
        out += "c"
    return out or "-"


def schema_lines(schema) -> list[str]:
    lines = ["\t".join([
        "S", esc(schema.domain), esc(schema.name), str(schema.since_version), flags(schema),
        str(schema.min_input), str(schema.max_input), str(schema.min_output), str(schema.max_output),
    ])]
    lines += [attribute_line(a) for _, a in sorted(schema.attributes.items())]
    lines += [parameter_line("I", p) for p in schema.inputs]
    lines += [parameter_line("O", p) for p in schema.outputs]
    for tc in schema.type_constraints:
        lines.append("\t".join(["T", esc(tc.type_param_str)] + [esc(t) for t in tc.allowed_type_strs]))
    if schema.has_function:
        for opset in sorted(schema.function_opset_versions):
            body = schema.get_function_with_opset_version(opset)
            assert body, (schema.name, schema.since_version, opset)
            # Re-serialize deterministically so the table does not depend on the C++ writer.
            body = onnx.FunctionProto.FromString(body).SerializeToString(deterministic=True)
            lines.append(f"F\t{opset}\t{base64.b64encode(body).decode()}")
    if schema.has_context_dependent_function:
        opsets = sorted(schema.context_dependent_function_opset_versions)
        lines.append("\t".join(["C"] + [str(v) for v in opsets]))
    return lines


def build_table() -> tuple[str, int, int]:
    schemas = sorted(
        onnx.defs.get_all_schemas_with_history(),
        key=lambda s: (s.domain, s.name, s.since_version),
    )
    keys = [(s.domain, s.name, s.since_version) for s in schemas]
    assert len(keys) == len(set(keys)), "duplicate (domain, name, since_version)"
    lines = [f"V\t{esc(onnx.__version__)}"]
    domains = onnx_defs_cpp.schema_version_map()
    for domain in sorted(domains):
        low, high = domains[domain]
        lines.append(f"D\t{esc(domain)}\t{low}\t{high}")
    for schema in schemas:
        lines += schema_lines(schema)
    body = "\n".join(lines)
    assert '"' not in body and "\\" not in body and "#" not in body, "unescaped literal delimiter"
    operators = len({(s.domain, s.name) for s in schemas})
    return body, len(schemas), operators


def render_swift(body: str) -> str:
    return (
        "// GENERATED by Scripts/gen_schemas.py from onnx " + onnx.__version__ + ". DO NOT EDIT.\n"
        "// Regenerate with `make schemas`; the format is described in that script and Docs/Opset.md.\n"
        "\n"
        "/// Every operator schema of the onnx wheel, in the line-based format that\n"
        "/// `SchemaTableReader` decodes.\n"
        "enum SchemaTable {\n"
        "    static let text: StaticString = #\"\"\"\n"
        + body + "\n"
        "\"\"\"#\n"
        "}\n"
    )


def render_stamp(swift: str, schemas: int, operators: int) -> str:
    digest = hashlib.sha256(swift.encode("utf-8")).hexdigest()
    return (
        f"onnx {onnx.__version__}\n"
        f"generated sha256 {digest}\n"
        f"schemas {schemas}\n"
        f"operators {operators}\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in memory and fail if the committed files differ")
    args = parser.parse_args()

    body, schemas, operators = build_table()
    swift = render_swift(body)
    stamp = render_stamp(swift, schemas, operators)
    print(f"onnx {onnx.__version__}: {schemas} schemas for {operators} operators")
    expected = EXPECTED.get(onnx.__version__)
    if expected and expected != (schemas, operators):
        print(f"error: onnx {onnx.__version__} should give {expected[0]} schemas for "
              f"{expected[1]} operators", file=sys.stderr)
        return 1

    if args.check:
        stale = [p for p, text in ((TABLE, swift), (STAMP, stamp))
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            for p in stale:
                print(f"stale: {p.relative_to(ROOT)} (run `make schemas`)", file=sys.stderr)
            return 1
        print("schema table is up to date")
        return 0

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(swift, encoding="utf-8")
    STAMP.write_text(stamp, encoding="utf-8")
    print(f"wrote {TABLE.relative_to(ROOT)} ({len(swift.encode())} bytes) and {STAMP.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
