"""Writes conformance cases for values that are not float32 tensors, in the node tests' layout: Add on every dtype
each opset takes (odd, broadcast shapes; wraparound, float16 rounding and overflow), Identity on tensors of other
dtypes, sequences and optionals. Expected outputs come from NumPy, and from PyTorch for bfloat16, which NumPy lacks.
Also writes models that must be refused (bad/<name>/model.onnx), each with the words its error must say. Nothing
here runs a model."""
import os
import shutil
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

IR_FOR_OPSET = {1: 3, 6: 3, 7: 3, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8}
rng = np.random.default_rng(7)
BF16 = "bfloat16"  # a dtype tag: arrays of it are held as float32 values that bfloat16 represents exactly


def tensor(name, a, raw=True):
    """A TensorProto of a in its own dtype; raw=False puts the values in the typed field (int32_data, ...)."""
    if isinstance(a, tuple) and a[0] == BF16:
        bits = torch.tensor(a[1]).bfloat16().view(torch.int16).numpy().view(np.uint16)
        return helper.make_tensor(name, TensorProto.BFLOAT16, a[1].shape, bits.tobytes(), raw=True)
    if raw:
        return numpy_helper.from_array(a, name)
    return helper.make_tensor(name, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype], a.shape, a.flatten().tolist())


def elem_type(a):
    if isinstance(a, tuple):
        return TensorProto.BFLOAT16
    return onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype]


def shape_of(a):
    return a[1].shape if isinstance(a, tuple) else a.shape


def write_model(d, name, opset, nodes, inputs, outputs, initializers=()):
    """inputs/outputs: (name, onnx TypeProto) pairs; initializers: TensorProtos."""
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    graph = helper.make_graph(nodes, name, [helper.make_value_info(n, t) for n, t in inputs],
                              [helper.make_value_info(n, t) for n, t in outputs], initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnxtrain-tests")
    model.ir_version = IR_FOR_OPSET[opset]
    onnx.save(model, os.path.join(d, "model.onnx"))


def write_case(out, name, opset, nodes, inputs, outputs, initializers=(), raw_inputs=True):
    """inputs/outputs: (name, array) pairs of tensors, or (name, TypeProto, proto) for sequences and optionals."""
    d = os.path.join(out, name)
    typed = lambda items: [(it[0], it[1]) if len(it) == 3 else
                           (it[0], helper.make_tensor_type_proto(elem_type(it[1]), shape_of(it[1]))) for it in items]
    write_model(d, name, opset, nodes, typed(inputs), typed(outputs), initializers)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    for kind, items, raw in (("input", inputs, raw_inputs), ("output", outputs, True)):
        for i, it in enumerate(items):
            proto = it[2] if len(it) == 3 else tensor(it[0], it[1], raw)
            with open(os.path.join(d, "test_data_set_0", f"{kind}_{i}.pb"), "wb") as f:
                f.write(proto.SerializeToString())
    return name


def ints(dtype, shape):
    """Values over the dtype's whole range, so that sums wrap around."""
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def main(out):
    os.makedirs(out, exist_ok=True)
    cases = []
    a_shape, b_shape = (3, 1, 5), (4, 1)  # broadcast to (3, 4, 5)
    add = lambda: helper.make_node("Add", ["a", "b"], ["y"])
    # Integers: NumPy's wraparound.
    for dtype, opset in ((np.int8, 14), (np.int16, 14), (np.int32, 7), (np.int64, 7), (np.uint8, 14),
                         (np.uint16, 14), (np.uint32, 7), (np.uint64, 7)):
        a, b = ints(dtype, a_shape), ints(dtype, b_shape)
        with np.errstate(over="ignore"):
            y = a + b
        cases.append(write_case(out, f"test_add_{np.dtype(dtype).name}_opset{opset}", opset, [add()],
                                [("a", a), ("b", b)], [("y", y)], raw_inputs=dtype not in (np.int8, np.uint16)))
    # float64, and float16: NumPy widens to float32, adds and rounds to nearest even; large values overflow to inf.
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    cases.append(write_case(out, "test_add_float64_opset7", 7, [add()], [("a", a), ("b", b)], [("y", a + b)]))
    a = (rng.standard_normal(a_shape) * 1000).astype(np.float16)
    a[0, 0, :3] = [np.float16(6.1e-5), np.float16(-3e-7), np.float16(65000)]  # subnormal sums, overflow
    b = (rng.standard_normal(b_shape) * 1000).astype(np.float16)
    b[0, 0], b[1, 0] = np.float16(2000), np.float16(-6.0e-5)  # 65000 + 2000 = inf; 6.1e-5 - 6e-5 is subnormal
    with np.errstate(over="ignore"):
        y = a + b
    cases.append(write_case(out, "test_add_float16_opset7", 7, [add()], [("a", a), ("b", b)], [("y", y)], raw_inputs=False))
    # bfloat16: PyTorch's sum, rounded to nearest even.
    a32 = torch.tensor(rng.standard_normal(a_shape).astype(np.float32)).bfloat16()
    b32 = torch.tensor(rng.standard_normal(b_shape).astype(np.float32) * 300).bfloat16()
    y32 = (a32 + b32).float().numpy()
    cases.append(write_case(out, "test_add_bfloat16_opset13", 13, [add()],
                            [("a", (BF16, a32.float().numpy())), ("b", (BF16, b32.float().numpy()))], [("y", (BF16, y32))]))
    # A typed initializer and a typed Constant node, read by the importer.
    a, c = ints(np.uint16, (2, 3)), ints(np.uint16, (3,))
    cases.append(write_case(out, "test_add_uint16_initializer", 14, [add()], [("a", a)], [("y", a + c)],
                            initializers=[tensor("b", c)]))
    c = ints(np.int32, (2, 1))
    cases.append(write_case(out, "test_add_int32_constant_node", 13,
                            [helper.make_node("Constant", [], ["b"], value=tensor("c", c, raw=False)), add()],
                            [("a", a.astype(np.int32))], [("y", a.astype(np.int32) + c)]))
    # Identity of tensors of other dtypes, at the first opset and the last that changed it.
    for dtype, opset in ((np.int64, 1), (np.bool_, 13), (np.float16, 16), (np.uint8, 16)):
        x = rng.integers(0, 2, size=(2, 3, 1)).astype(dtype) if dtype == np.bool_ else ints(np.uint8, (2, 3, 1)).astype(dtype)
        cases.append(write_case(out, f"test_identity_{np.dtype(dtype).name}_opset{opset}", opset,
                                [helper.make_node("Identity", ["x"], ["y"])], [("x", x)], [("y", x)]))
    # Identity of sequences and optionals: elements of different shapes, an empty one, an optional without a value.
    ident = helper.make_node("Identity", ["x"], ["y"])
    seq_t = helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, None))
    seq = lambda n, items: helper.make_sequence(n, onnx.SequenceProto.TENSOR, [numpy_helper.from_array(v) for v in items])
    items = [rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (1,), (0, 4))]
    cases.append(write_case(out, "test_identity_sequence_shapes", 16, [ident],
                            [("x", seq_t, seq("x", items))], [("y", seq_t, seq("y", items))]))
    cases.append(write_case(out, "test_identity_sequence_empty", 16, [ident],
                            [("x", seq_t, seq("x", []))], [("y", seq_t, seq("y", []))]))
    opt_t = helper.make_optional_type_proto(helper.make_tensor_type_proto(TensorProto.INT64, (2,)))
    empty_opt = lambda n: helper.make_optional(n, onnx.OptionalProto.UNDEFINED, None)
    cases.append(write_case(out, "test_identity_optional_none", 16, [ident],
                            [("x", opt_t, empty_opt("x"))], [("y", opt_t, empty_opt("y"))]))
    v = np.array([3, -4], np.int64)
    full_opt = lambda n: helper.make_optional(n, onnx.OptionalProto.TENSOR, numpy_helper.from_array(v))
    cases.append(write_case(out, "test_identity_optional_tensor", 16, [ident, helper.make_node("Identity", ["y"], ["z"])],
                            [("x", opt_t, full_opt("x"))], [("z", opt_t, full_opt("z"))]))
    # Dropout's mask is bool from opset 10: all true outside training.
    x = rng.standard_normal((3, 4)).astype(np.float32)
    cases.append(write_case(out, "test_dropout_bool_mask_opset13", 13,
                            [helper.make_node("Dropout", ["x"], ["y", "mask"])], [("x", x)],
                            [("y", x), ("mask", np.ones(x.shape, np.bool_))]))
    # Shape of tensors of other dtypes: int64 dims, whatever the input holds.
    for dtype, opset in ((np.int64, 13), (np.uint8, 15), (np.bool_, 16)):
        x = ints(np.uint8, (2, 1, 3)).astype(dtype)
        cases.append(write_case(out, f"test_shape_{np.dtype(dtype).name}_opset{opset}", opset,
                                [helper.make_node("Shape", ["x"], ["y"])], [("x", x)],
                                [("y", np.array(x.shape, np.int64))]))
    # Squeeze and Unsqueeze move bytes, whatever their dtype.
    x = ints(np.int64, (2, 1, 3))
    cases.append(write_case(out, "test_squeeze_int64_opset13", 13, [helper.make_node("Squeeze", ["x", "axes"], ["y"])],
                            [("x", x)], [("y", x.reshape(2, 3))], initializers=[tensor("axes", np.array([1], np.int64))]))
    x = (rng.standard_normal((1, 4)) * 100).astype(np.float16)
    cases.append(write_case(out, "test_squeeze_float16_opset1", 1, [helper.make_node("Squeeze", ["x"], ["y"])],
                            [("x", x)], [("y", x.reshape(4))]))
    x = rng.integers(0, 2, size=(2, 3)).astype(np.bool_)
    cases.append(write_case(out, "test_unsqueeze_bool_opset11", 11,
                            [helper.make_node("Unsqueeze", ["x"], ["y"], axes=[-1])], [("x", x)], [("y", x[..., None])]))
    x = ints(np.uint8, (3,))
    cases.append(write_case(out, "test_unsqueeze_uint8_opset13", 13, [helper.make_node("Unsqueeze", ["x", "axes"], ["y"])],
                            [("x", x)], [("y", x.reshape(1, 3, 1))], initializers=[tensor("axes", np.array([0, 2], np.int64))]))
    # Clip on the dtypes it takes besides float32: the integers from 12 (bounds of X's dtype, over its whole range),
    # float64 with attribute bounds (6) and input bounds (11, min > max giving max), float16 from 11, bfloat16 from 13.
    clip = lambda *names: helper.make_node("Clip", list(names), ["y"])
    for dtype in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64):
        x = ints(dtype, (3, 4, 5))
        lo, hi = np.sort(ints(dtype, (2,)))
        cases.append(write_case(out, f"test_clip_{np.dtype(dtype).name}_opset12", 12, [clip("x", "min", "max")],
                                [("x", x), ("min", np.array(lo, dtype)), ("max", np.array(hi, dtype))],
                                [("y", np.clip(x, lo, hi))]))
    x, hi = ints(np.int32, (7,)), np.array(-5, np.int32)
    cases.append(write_case(out, "test_clip_int32_max_only_opset13", 13, [clip("x", "", "max")],
                            [("x", x), ("max", hi)], [("y", np.minimum(x, hi))]))
    x = rng.standard_normal((3, 4))
    cases.append(write_case(out, "test_clip_float64_opset6", 6, [helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.25)],
                            [("x", x)], [("y", np.clip(x, -0.5, 0.25))]))
    lo, hi = np.array(0.5), np.array(-0.25)
    cases.append(write_case(out, "test_clip_float64_min_above_max_opset11", 11, [clip("x", "min", "max")],
                            [("x", x), ("min", lo), ("max", hi)], [("y", np.minimum(np.maximum(x, lo), hi))]))
    x = (rng.standard_normal((2, 5)) * 3).astype(np.float16)
    x[0, :2] = [np.float16(-0.0), np.float16(np.nan)]
    lo, hi = np.array(-1.5, np.float16), np.array(2.25, np.float16)
    cases.append(write_case(out, "test_clip_float16_opset11", 11, [clip("x", "min", "max")],
                            [("x", x), ("min", lo), ("max", hi)], [("y", np.clip(x, lo, hi))]))
    x32 = torch.tensor(rng.standard_normal((2, 5)).astype(np.float32) * 3).bfloat16()
    lo32, hi32 = torch.tensor(-1.0).bfloat16(), torch.tensor(0.75).bfloat16()
    y32 = torch.clamp(x32, lo32, hi32).float().numpy()
    cases.append(write_case(out, "test_clip_bfloat16_opset13", 13, [clip("x", "min", "max")],
                            [("x", (BF16, x32.float().numpy())), ("min", (BF16, lo32.float().numpy())),
                             ("max", (BF16, hi32.float().numpy()))], [("y", (BF16, y32))]))
    cases += arith_cases(out)
    cases += movement(out)
    cases += range_cases(out)
    cases += maxpool_cases(out)
    cases += pad_cases(out)
    write_bad(os.path.join(out, "bad"))
    return cases


def wrap(q, dtype):
    """A Python integer wrapped into dtype's range, as numpy's integer arithmetic wraps."""
    info = np.iinfo(dtype)
    span = int(info.max) - int(info.min) + 1
    return (q - int(info.min)) % span + int(info.min)


def trunc_div(a, b):
    """Integer quotients truncated toward zero, x / 0 = 0, wrapped (min / -1 = min): onnxtrain's Div, as onnxruntime
    computes it and PyTorch's exporter assumes; numpy's // floors instead."""
    q = [0 if int(y) == 0 else (abs(int(x)) // abs(int(y))) * (1 if (int(x) < 0) == (int(y) < 0) else -1)
         for x, y in zip(a.ravel(), np.broadcast_to(b, a.shape).ravel())]
    return np.array([wrap(v, a.dtype) for v in q], dtype=a.dtype).reshape(a.shape)


def arith_cases(out):
    """Mul, Sub, Div on every dtype each opset takes, as Add's above; Pow with its base and exponent of different
    dtypes (opset 12 on), NumPy's np.power(x, y).astype(x.dtype) as ONNX's node tests define it."""
    cases = []
    a_shape, b_shape = (3, 1, 5), (4, 1)
    ops = {"Mul": np.multiply, "Sub": np.subtract}
    for dtype, opset in ((np.int8, 14), (np.int16, 14), (np.int32, 7), (np.int64, 7), (np.uint8, 14),
                         (np.uint16, 14), (np.uint32, 7), (np.uint64, 7)):
        a, b = ints(dtype, a_shape), ints(dtype, b_shape)
        for op, f in ops.items():
            with np.errstate(over="ignore"):
                y = f(a, b)
            cases.append(write_case(out, f"test_{op.lower()}_{np.dtype(dtype).name}_opset{opset}", opset,
                                    [helper.make_node(op, ["a", "b"], ["y"])], [("a", a), ("b", b)], [("y", y)]))
        # Div: the full range, small divisors of both signs, a 0, and (for signed types) min / -1.
        a = np.broadcast_to(a, (3, 4, 5)).copy()
        b = rng.integers(1, 9, size=b_shape).astype(dtype)
        if np.iinfo(dtype).min < 0:
            b[0, 0], b[1, 0] = dtype(-1), dtype(-7)
            a[0, 0, 0] = np.iinfo(dtype).min
        b[2, 0] = 0
        cases.append(write_case(out, f"test_div_{np.dtype(dtype).name}_opset{opset}", opset,
                                [helper.make_node("Div", ["a", "b"], ["y"])], [("a", a), ("b", b)],
                                [("y", trunc_div(a, b))]))
    # float64, float16 (NumPy computes in float32 and rounds to nearest even) and bfloat16 (PyTorch's).
    for op, f in (("Mul", np.multiply), ("Sub", np.subtract), ("Div", np.divide)):
        a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape) + 3
        cases.append(write_case(out, f"test_{op.lower()}_float64_opset7", 7, [helper.make_node(op, ["a", "b"], ["y"])],
                                [("a", a), ("b", b)], [("y", f(a, b))]))
        a = (rng.standard_normal(a_shape) * 300).astype(np.float16)
        b = (rng.standard_normal(b_shape) * 300).astype(np.float16)
        with np.errstate(over="ignore"):
            y = f(a, b)
        cases.append(write_case(out, f"test_{op.lower()}_float16_opset7", 7, [helper.make_node(op, ["a", "b"], ["y"])],
                                [("a", a), ("b", b)], [("y", y)], raw_inputs=False))
        a32 = torch.tensor(rng.standard_normal(a_shape).astype(np.float32)).bfloat16()
        b32 = torch.tensor(rng.standard_normal(b_shape).astype(np.float32) * 30).bfloat16()
        y32 = {"Mul": torch.mul, "Sub": torch.sub, "Div": torch.div}[op](a32, b32).float().numpy()
        cases.append(write_case(out, f"test_{op.lower()}_bfloat16_opset13", 13, [helper.make_node(op, ["a", "b"], ["y"])],
                                [("a", (BF16, a32.float().numpy())), ("b", (BF16, b32.float().numpy()))],
                                [("y", (BF16, y32))]))
    # Pow: float bases to integer exponents, integer bases to integer powers (which wrap) and to float ones (truncated).
    pw = lambda: helper.make_node("Pow", ["x", "e"], ["y"])
    xf = (rng.standard_normal((2, 3)) * 2).astype(np.float32)
    for edt in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64, np.uint32, np.uint64):
        e = rng.integers(0, 6, size=(3,)).astype(edt)
        cases.append(write_case(out, f"test_pow_float32_{np.dtype(edt).name}_opset12", 12, [pw()],
                                [("x", xf), ("e", e)], [("y", np.power(xf, e).astype(np.float32))]))
    for xdt in (np.int32, np.int64):
        x = rng.integers(-40, 40, size=(2, 3)).astype(xdt)
        e = rng.integers(0, 30, size=(2, 3)).astype(xdt)
        with np.errstate(over="ignore"):
            y = np.power(x, e)
        cases.append(write_case(out, f"test_pow_{np.dtype(xdt).name}_{np.dtype(xdt).name}_wraps_opset12", 12, [pw()],
                                [("x", x), ("e", e)], [("y", y)]))
        ef = np.array([0.5, 1.5, 2.0], np.float32)
        xp = np.abs(x)
        cases.append(write_case(out, f"test_pow_{np.dtype(xdt).name}_float32_opset12", 12, [pw()],
                                [("x", xp), ("e", ef)], [("y", np.power(xp, ef).astype(xdt))]))
    xh = (np.abs(rng.standard_normal((2, 3))) * 3).astype(np.float16)
    eh = rng.standard_normal((3,)).astype(np.float16)
    cases.append(write_case(out, "test_pow_float16_float16_opset7", 7, [pw()], [("x", xh), ("e", eh)],
                            [("y", np.power(xh, eh))], raw_inputs=False))
    xd = np.abs(rng.standard_normal((2, 3))) + 0.1
    cases.append(write_case(out, "test_pow_float64_int8_opset12", 12, [pw()],
                            [("x", xd), ("e", np.array([3, -2, 1], np.int8))],
                            [("y", np.power(xd, np.array([3, -2, 1], np.int8)))]))
    xb = torch.tensor(np.abs(rng.standard_normal((2, 3))).astype(np.float32) * 4).bfloat16()
    eb = rng.standard_normal((3,)).astype(np.float32)
    yb = torch.pow(xb.float(), torch.tensor(eb)).bfloat16().float().numpy()
    cases.append(write_case(out, "test_pow_bfloat16_float32_opset13", 13, [pw()],
                            [("x", (BF16, xb.float().numpy())), ("e", eb)], [("y", (BF16, yb))]))
    eb16 = torch.tensor(eb).bfloat16()
    yb = torch.pow(xb.float(), eb16.float()).bfloat16().float().numpy()
    cases.append(write_case(out, "test_pow_bfloat16_bfloat16_opset15", 15, [pw()],
                            [("x", (BF16, xb.float().numpy())), ("e", (BF16, eb16.float().numpy()))], [("y", (BF16, yb))]))
    return cases


def movement(out):
    """The data-movement ops on other dtypes than float32: integers, bool and float16 carried byte for byte, Cast
    between them (NumPy's astype: truncation toward 0, wraparound), and an integer fill."""
    cases = []
    a, b = ints(np.int64, (2, 3)), ints(np.int64, (2, 2))
    cases.append(write_case(out, "test_concat_int64_opset13", 13, [helper.make_node("Concat", ["a", "b"], ["y"], axis=1)],
                            [("a", a), ("b", b)], [("y", np.concatenate([a, b], axis=1))]))
    x = ints(np.int32, (5, 2))
    cases.append(write_case(out, "test_split_int32_opset13", 13, [helper.make_node("Split", ["x", "s"], ["y0", "y1"])],
                            [("x", x)], [("y0", x[:2]), ("y1", x[2:])], initializers=[tensor("s", np.array([2, 3], np.int64))]))
    x = ints(np.uint8, (4, 6))
    cases.append(write_case(out, "test_slice_uint8_opset13", 13,
                            [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])], [("x", x)], [("y", x[::-1, 1:6:2])],
                            initializers=[tensor("s", np.array([-1, 1], np.int64)), tensor("e", np.array([-100, 6], np.int64)),
                                          tensor("a", np.array([0, 1], np.int64)), tensor("t", np.array([-1, 2], np.int64))]))
    x = rng.standard_normal((5, 3)).astype(np.float16)
    i = np.array([[4, -1], [0, 2]], np.int32)
    cases.append(write_case(out, "test_gather_float16_int32_indices_opset13", 13, [helper.make_node("Gather", ["x", "i"], ["y"])],
                            [("x", x), ("i", i)], [("y", x[i])]))
    c = rng.random((3, 1)) > 0.5
    p, q = ints(np.int32, (1, 4)), ints(np.int32, (3, 4))
    cases.append(write_case(out, "test_where_int32_broadcast_opset16", 16, [helper.make_node("Where", ["c", "p", "q"], ["y"])],
                            [("c", c), ("p", p), ("q", q)], [("y", np.where(c, p, q))]))
    x = rng.random((3, 1)) > 0.5
    cases.append(write_case(out, "test_expand_bool_opset13", 13, [helper.make_node("Expand", ["x", "s"], ["y"])],
                            [("x", x)], [("y", np.broadcast_to(x, (2, 3, 4)).copy())],
                            initializers=[tensor("s", np.array([2, 1, 4], np.int64))]))
    img = ints(np.uint8, (2, 3, 4))
    cases.append(write_case(out, "test_cast_uint8_to_float_opset13", 13, [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
                            [("x", img)], [("y", img.astype(np.float32))]))
    f = (rng.standard_normal((3, 4)) * 100).astype(np.float32)
    for to, dtype in ((TensorProto.INT32, np.int32), (TensorProto.INT8, np.int8), (TensorProto.BOOL, np.bool_),
                      (TensorProto.FLOAT16, np.float16), (TensorProto.DOUBLE, np.float64)):
        with np.errstate(invalid="ignore"):
            want = f.astype(np.int64).astype(dtype) if dtype == np.int8 else f.astype(dtype)
        cases.append(write_case(out, f"test_cast_float_to_{np.dtype(dtype).name}_opset13", 13,
                                [helper.make_node("Cast", ["x"], ["y"], to=to)], [("x", f)], [("y", want)]))
    for frm, to, dtype in ((np.int64, TensorProto.INT32, np.int32), (np.int32, TensorProto.UINT8, np.uint8),
                           (np.bool_, TensorProto.FLOAT, np.float32), (np.int16, TensorProto.INT64, np.int64)):
        x = rng.random((2, 5)) > 0.5 if frm == np.bool_ else ints(frm, (2, 5))
        cases.append(write_case(out, f"test_cast_{np.dtype(frm).name}_to_{np.dtype(dtype).name}_opset13", 13,
                                [helper.make_node("Cast", ["x"], ["y"], to=to)], [("x", x)], [("y", x.astype(dtype))]))
    cases.append(write_case(out, "test_constantofshape_int64_opset13", 13,
                            [helper.make_node("ConstantOfShape", ["s"], ["y"], value=helper.make_tensor("v", TensorProto.INT64, [1], [-3]))],
                            [("s", np.array([2, 3], np.int64))], [("y", np.full((2, 3), -3, np.int64))]))
    return cases


def range_cases(out):
    """Range on fed scalars of each type it takes, up and down, against torch.arange (start + i*delta, so a float range
    does not drift), and one on Constant nodes. Its length comes from the values, which the plan is made for."""
    cases = []
    for dtype, start, limit, delta in ((np.float32, 0.1, 2.0, 0.3), (np.float64, 5.0, -1.5, -0.7), (np.int16, -3, 9, 4),
                                       (np.int32, 7, -8, -3), (np.int64, 0, 1000, 7), (np.float32, 1.0, 1.0, 1.0)):
        a, b, c = (np.array(v, dtype) for v in (start, limit, delta))
        want = torch.arange(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)).numpy().astype(dtype)
        name = f"test_range_{np.dtype(dtype).name}_{'empty' if want.size == 0 else 'up' if delta > 0 else 'down'}_opset11"
        cases.append(write_case(out, name, 11, [helper.make_node("Range", ["s", "l", "d"], ["y"])],
                                [("s", a), ("l", b), ("d", c)], [("y", want)]))
    consts = [helper.make_node("Constant", [], [n], value=tensor(n + "_v", np.array(v, np.float32)))
              for n, v in (("s", -1.0), ("l", 1.0), ("d", 0.25))]
    cases.append(write_case(out, "test_range_float_constants_opset13", 13,
                            consts + [helper.make_node("Range", ["s", "l", "d"], ["r"]), helper.make_node("Add", ["r", "x"], ["y"])],
                            [("x", np.ones(8, np.float32))], [("y", np.arange(-1.0, 1.0, 0.25).astype(np.float32) + 1)]))
    return cases


def maxpool_cases(out):
    """MaxPool on the other dtypes it takes (int8 and uint8 from opset 12, float16 and double), 2x2 windows at stride
    2: the maximum of each, from NumPy."""
    cases = []
    for dtype, opset in ((np.int8, 12), (np.uint8, 12), (np.float16, 11), (np.float64, 11)):
        x = ints(dtype, (2, 3, 4, 6)) if np.issubdtype(dtype, np.integer) else rng.standard_normal((2, 3, 4, 6)).astype(dtype)
        want = x.reshape(2, 3, 2, 2, 3, 2).max(axis=(3, 5))
        cases.append(write_case(out, f"test_maxpool_{np.dtype(dtype).name}_opset{opset}", opset,
                                [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
                                [("x", x)], [("y", want)]))
    return cases


def pad_cases(out):
    """Pad on other dtypes (element bytes moved as they are): int32 with a constant of its own, uint8 edge, bool
    constant, float16 reflect, against NumPy's pad."""
    cases = []
    for dtype, mode in ((np.int32, "constant"), (np.uint8, "edge"), (np.bool_, "constant"), (np.float16, "reflect")):
        x = rng.random((3, 4)) > 0.5 if dtype == np.bool_ else ints(dtype, (3, 4)) if dtype != np.float16 else \
            rng.standard_normal((3, 4)).astype(dtype)
        pads = np.array([1, 2, 2, 1], np.int64)
        inputs, extra = [("x", x)], {}
        if mode == "constant" and dtype != np.bool_:
            inputs.append(("c", np.array(7, dtype)))
            extra = {"constant_values": 7}
        want = np.pad(x, ((1, 2), (2, 1)), mode=mode, **extra)
        cases.append(write_case(out, f"test_pad_{np.dtype(dtype).name}_{mode}_opset13", 13,
                                [helper.make_node("Pad", ["x", "p"] + (["c"] if len(inputs) > 1 else []), ["y"], mode=mode)],
                                inputs, [("y", want)], initializers=[tensor("p", pads)]))
    return cases


def write_bad(out):
    """Models to refuse, with what each error must say (in says.txt)."""
    t = helper.make_tensor_type_proto
    seq_t = helper.make_sequence_type_proto(t(TensorProto.FLOAT, None))
    bad = {
        "add_uint8_opset13": (13, [helper.make_node("Add", ["a", "b"], ["y"])],
                              [("a", t(TensorProto.UINT8, (2,))), ("b", t(TensorProto.UINT8, (2,)))],
                              "input 'a' is uint8, which Add takes from opset 14 (this is opset 13)"),
        "add_mixed_dtypes": (14, [helper.make_node("Add", ["a", "b"], ["y"])],
                             [("a", t(TensorProto.INT32, (2,))), ("b", t(TensorProto.INT64, (2,)))],
                             "A 'a' is int32 but B 'b' is int64"),
        "add_bool": (14, [helper.make_node("Add", ["a", "b"], ["y"])],
                     [("a", t(TensorProto.BOOL, (2,))), ("b", t(TensorProto.BOOL, (2,)))],
                     "input 'a' is bool; Add takes numeric tensors"),
        "relu_int32": (14, [helper.make_node("Relu", ["a"], ["y"])], [("a", t(TensorProto.INT32, (2,)))],
                       "node '#0' (Relu): input 'a' is int32; Relu computes on float32 tensors"),
        "gemm_after_typed_add": (14, [helper.make_node("Add", ["a", "a"], ["s"]), helper.make_node("Gemm", ["s", "s"], ["y"])],
                                 [("a", t(TensorProto.FLOAT16, (2, 2)))],
                                 "node '#1' (Gemm): input 's' is float16; Gemm computes on float32 tensors"),
        "identity_sequence_opset14": (14, [helper.make_node("Identity", ["a"], ["y"])], [("a", seq_t)],
                                      "input 'a' is sequence(float32); Identity takes sequences and optionals from opset 16"),
        "add_sequence": (16, [helper.make_node("Add", ["a", "a"], ["y"])], [("a", seq_t)],
                         "input 'a' is sequence(float32); Add takes numeric tensors"),
        "clip_int8_opset11": (11, [helper.make_node("Clip", ["a"], ["y"])], [("a", t(TensorProto.INT8, (2,)))],
                              "input 'a' is int8, which Clip takes from opset 12 (this is opset 11)"),
        "pow_mixed_dtypes_opset7": (7, [helper.make_node("Pow", ["a", "b"], ["y"])],
                                    [("a", t(TensorProto.FLOAT, (2,))), ("b", t(TensorProto.DOUBLE, (2,)))],
                                    "the exponent may differ in type from opset 12"),
        "string_input": (16, [helper.make_node("Identity", ["a"], ["y"])], [("a", t(TensorProto.STRING, (2,)))],
                         "input 'a' is string, which onnxtrain does not carry"),
    }
    for name, (opset, nodes, inputs, says) in bad.items():
        d = os.path.join(out, name)
        write_model(d, name, opset, nodes, inputs, [("y", t(TensorProto.FLOAT, None))])
        with open(os.path.join(d, "says.txt"), "w") as f:
            f.write(says)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_typed_tests.py OUTDIR")
    main(sys.argv[1])
