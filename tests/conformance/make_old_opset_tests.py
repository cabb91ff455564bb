"""Writes conformance cases for the older opset versions of the ops onnxtrain supports, which ONNX's own node tests
(made at the newest opset) do not cover, and for MatMul's 1-D operands, in the node tests' layout. Where an op's
semantics changed between versions the cases are written here, with expected outputs from a NumPy reference written
here. Given onnxtrain's command line, it also reads the ops and their versions (`onnxtrain info --ops`) and, for each
version left without a case, writes ONNX's own node tests of the op at that version: the same inputs and ONNX's
expected outputs, which hold wherever the version changed only types. A version whose math differs fails them, and
needs cases here. Nothing here runs a model."""
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# The IR version each opset came with: a model may not declare a newer one than its opset allows readers to expect.
IR_FOR_OPSET = {**{v: 3 for v in range(1, 9)}, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8}
rng = np.random.default_rng(2024)
# What ONNX names the node tests of the ops whose tests follow neither the op in lower case nor in snake case
# (test_node_conformance.cpp's kStems holds the same table).
STEMS = {"BatchNormalization": ["batchnorm"], "Conv": ["basic_conv", "conv"],
         "Pad": ["constant_pad", "edge_pad", "reflect_pad", "wrap_pad"]}
# (op, opset) of every case written: what the registry's versions are checked against.
written = set()


def softmax_ref(x, axis, coerced):
    """Before opset 13: coerce to 2-D at axis and normalize rows. From 13: normalize along axis."""
    x = x.astype(np.float64)
    axis = axis % x.ndim
    if coerced:
        flat = x.reshape(int(np.prod(x.shape[:axis])), -1)
        e = np.exp(flat - flat.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).reshape(x.shape)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def gemm_ref(a, b, c, alpha, beta, trans_a, trans_b):
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    y = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    return y + beta * c.astype(np.float64) if c is not None else y


def stored(a):
    """An input or expected output as the case holds it: float32, unless it is an integer or bool array."""
    a = np.asarray(a)
    return a if a.dtype.kind in "biu" else a.astype(np.float32)


def write_case(out, name, opset, node, inputs, outputs, initializers=()):
    """inputs/outputs: lists of (name, array), graph inputs and outputs; initializers: (name, array) constants."""
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    # Before ir_version 4 every initializer must be a graph input too.
    listed = list(inputs) + (list(initializers) if IR_FOR_OPSET[opset] < 4 else [])
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info(n, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype], a.shape) for n, a in listed],
        [helper.make_tensor_value_info(n, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[stored(a).dtype], a.shape)
         for n, a in outputs],
        initializer=[numpy_helper.from_array(a, n) for n, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnxtrain-tests")
    model.ir_version = IR_FOR_OPSET[opset]
    onnx.save(model, os.path.join(d, "model.onnx"))
    written.add((node.op_type, opset))
    for kind, items in (("input", inputs), ("output", outputs)):
        for i, (n, a) in enumerate(items):
            t = numpy_helper.from_array(stored(a), n)
            with open(os.path.join(d, "test_data_set_0", f"{kind}_{i}.pb"), "wb") as f:
                f.write(t.SerializeToString())
    return name


def main(out, cli=None):
    shutil.rmtree(out, ignore_errors=True)  # this script's own folder: no case left from an older registry
    os.makedirs(out)
    cases = []
    x3 = rng.standard_normal((3, 4, 5)).astype(np.float32) * 3
    for opset in (1, 11, 13):
        coerced = opset < 13
        for axis in (0, 1, 2, -1, None):
            attrs = {} if axis is None else {"axis": axis}
            ref_axis = axis if axis is not None else (1 if coerced else -1)
            tag = "default" if axis is None else ("axis_neg1" if axis == -1 else f"axis{axis}")
            node = helper.make_node("Softmax", ["x"], ["y"], **attrs)
            cases.append(write_case(out, f"test_softmax_opset{opset}_{tag}", opset, node, [("x", x3)],
                                    [("y", softmax_ref(x3, ref_axis, coerced))]))

    M, K, N = 3, 5, 4
    def gemm_case(name, opset, c_shape, alpha=1.0, beta=1.0, ta=0, tb=0, **extra):
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        attrs = dict(extra)
        if alpha != 1.0: attrs["alpha"] = alpha
        if beta != 1.0: attrs["beta"] = beta
        if ta: attrs["transA"] = ta
        if tb: attrs["transB"] = tb
        inputs = [("a", a), ("b", b)]
        c = None
        if c_shape is not None:
            c = rng.standard_normal(c_shape).astype(np.float32)
            inputs.append(("c", c))
        node = helper.make_node("Gemm", [n for n, _ in inputs], ["y"], **attrs)
        cases.append(write_case(out, name, opset, node, inputs,
                                [("y", gemm_ref(a, b, c, alpha, beta, ta, tb))]))

    gemm_case("test_gemm_opset1_matrix_c", 1, (M, N), alpha=0.5, beta=2.0)
    gemm_case("test_gemm_opset1_broadcast_vector_c", 1, (N,), broadcast=1, ta=1)
    gemm_case("test_gemm_opset6_broadcast_vector_c", 6, (N,), broadcast=1)
    gemm_case("test_gemm_opset6_broadcast_row_c", 6, (1, N), broadcast=1, tb=1)
    gemm_case("test_gemm_opset6_broadcast_column_c", 6, (M, 1), broadcast=1, alpha=2.0, beta=0.5)
    gemm_case("test_gemm_opset6_broadcast_single_c", 6, (1,), broadcast=1, ta=1, tb=1)
    gemm_case("test_gemm_opset6_no_broadcast_matrix_c", 6, (M, N), broadcast=0, beta=-1.0)
    gemm_case("test_gemm_opset7_vector_c", 7, (N,), alpha=0.25)
    gemm_case("test_gemm_opset9_column_c", 9, (M, 1), tb=1)
    gemm_case("test_gemm_opset11_no_c", 11, None, ta=1)
    gemm_case("test_gemm_opset13_column_c", 13, (M, 1), beta=3.0)

    # Shape before start and end (opset 15): every dim.
    for opset in (1, 13):
        x = rng.standard_normal((3, 4, 5)).astype(np.float32)
        cases.append(write_case(out, f"test_shape_opset{opset}", opset, helper.make_node("Shape", ["x"], ["y"]),
                                [("x", x)], [("y", np.array(x.shape, np.int64))]))

    x = rng.standard_normal((3, 7)).astype(np.float32)
    x[0, :3] = 0.0
    for opset in (1, 6, 13, 14):
        cases.append(write_case(out, f"test_relu_opset{opset}", opset, helper.make_node("Relu", ["x"], ["y"]),
                                [("x", x)], [("y", np.maximum(x, 0))]))
    for opset in (1, 6, 16):
        for alpha in (None, 0.3):
            attrs = {} if alpha is None else {"alpha": alpha}
            a = 0.01 if alpha is None else alpha
            y = np.where(x > 0, x, np.float32(a) * x)
            tag = "default" if alpha is None else "alpha"
            cases.append(write_case(out, f"test_leakyrelu_opset{opset}_{tag}", opset,
                                    helper.make_node("LeakyRelu", ["x"], ["y"], **attrs), [("x", x)], [("y", y)]))
    # Reshape: the shape attribute (opset 1) or a constant int64 input (5 on), the 0 and -1 rules, allowzero (14).
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    for opset in (1, 5, 13, 14):
        for tag, shape in (("neg", [4, -1]), ("zero", [0, -1, 2]), ("extend", [2, 1, 3, 4])):
            want = x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(shape)])
            if opset == 1:
                node = helper.make_node("Reshape", ["x"], ["y"], shape=shape)
                cases.append(write_case(out, f"test_reshape_opset{opset}_{tag}", opset, node, [("x", x)], [("y", want)]))
            else:
                node = helper.make_node("Reshape", ["x", "shape"], ["y"])
                cases.append(write_case(out, f"test_reshape_opset{opset}_{tag}", opset, node, [("x", x)], [("y", want)],
                                        [("shape", np.array(shape, np.int64))]))
    # An empty shape: a one-element tensor to a scalar (the shape input is zero-size, but a value, not data).
    one = rng.standard_normal((1, 1)).astype(np.float32)
    cases.append(write_case(out, "test_reshape_opset13_to_scalar", 13, helper.make_node("Reshape", ["x", "shape"], ["y"]),
                            [("x", one)], [("y", one.reshape(()))], [("shape", np.zeros((0,), np.int64))]))
    z = rng.standard_normal((0 + 2, 0 + 3)).astype(np.float32)
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=1)
    cases.append(write_case(out, "test_reshape_opset14_allowzero_copies_none", 14, node, [("x", z)],
                            [("y", z.reshape(3, 2))], [("shape", np.array([3, 2], np.int64))]))
    # Add: opset 6 with broadcast = 1 (B to A), opset 7 and 14 with numpy broadcasting in both directions.
    a = rng.standard_normal((3, 4)).astype(np.float32)
    for opset, b_shape, extra in ((6, (4,), dict(broadcast=1)), (6, (3, 4), {}), (7, (1, 4), {}), (14, (3, 1), {})):
        b = rng.standard_normal(b_shape).astype(np.float32)
        node = helper.make_node("Add", ["a", "b"], ["y"], **extra)
        cases.append(write_case(out, f"test_add_opset{opset}_{'x'.join(map(str, b_shape))}", opset, node,
                                [("a", a), ("b", b)], [("y", a + b)]))
    col, row = rng.standard_normal((3, 1)).astype(np.float32), rng.standard_normal((1, 4)).astype(np.float32)
    cases.append(write_case(out, "test_add_opset13_both_broadcast", 13, helper.make_node("Add", ["a", "b"], ["y"]),
                            [("a", col), ("b", row)], [("y", col + row)]))
    # Constant nodes, folded at load: a float value feeding Add, an int64 shape feeding Reshape.
    nodes = [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.full((4,), 0.5, np.float32))),
             helper.make_node("Add", ["x", "c"], ["s"]),
             helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([-1], np.int64))),
             helper.make_node("Reshape", ["s", "shape"], ["y"])]
    d = os.path.join(out, "test_constant_opset13")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    g = helper.make_graph(nodes, "constant", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (3, 4))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, (12,))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="onnxtrain-tests")
    m.ir_version = 7
    onnx.save(m, os.path.join(d, "model.onnx"))
    for kind, n, arr in (("input", "x", a), ("output", "y", (a + 0.5).reshape(-1))):
        with open(os.path.join(d, "test_data_set_0", f"{kind}_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr.astype(np.float32), n).SerializeToString())
    cases.append("test_constant_opset13")
    cases += more_ops(out)
    cases += batchnorm_ops(out)
    cases += arith_ops(out)
    cases += movement_ops(out)
    cases += pad_ops(out)
    if cli:
        cases += node_tests_at_old_versions(out, cli)
    print("\n".join(cases))


def batchnorm_ops(out):
    """BatchNormalization at the versions whose attributes ONNX's node tests (opset 15) lack: consumed_inputs, required
    at 1, and is_test (1 and 6), spatial (1 to 7). The inference form: Y from the statistics given."""
    cases = []
    for opset, extra in ((1, dict(consumed_inputs=[0, 0, 0, 1, 1], is_test=1)), (6, dict(is_test=1, epsilon=1e-2)),
                         (7, dict(spatial=1, momentum=0.7))):
        x = rng.standard_normal((2, 3, 4)).astype(np.float32)
        s, b, m = (rng.standard_normal(3).astype(np.float32) for _ in range(3))
        v = rng.random(3).astype(np.float32) + 0.5
        eps = extra.get("epsilon", 1e-5)
        y = (s[:, None] * (x.astype(np.float64) - m[:, None]) / np.sqrt(v[:, None].astype(np.float64) + eps)
             + b[:, None])
        node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], **extra)
        cases.append(write_case(out, f"test_batchnorm_opset{opset}_inference", opset, node,
                                [("x", x), ("s", s), ("b", b), ("m", m), ("v", v)], [("y", y)]))
    # The training form of 9 to 13, five outputs, with the statistics fed: ONNX's function of them. Y from the batch's
    # mean and biased variance; mean and var the running statistics updated from them (ONNX's rule, the biased
    # variance); saved_mean and saved_var the batch's statistics (the variance, as onnxtrain gives it).
    x = rng.standard_normal((4, 3, 2)).astype(np.float32)
    s, b, m = (rng.standard_normal(3).astype(np.float32) for _ in range(3))
    v = rng.random(3).astype(np.float32) + 0.5
    xd = x.astype(np.float64)
    bm, bv = xd.mean(axis=(0, 2)), xd.var(axis=(0, 2))
    y = s[:, None] * (xd - bm[:, None]) / np.sqrt(bv[:, None] + 1e-5) + b[:, None]
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "mean", "var", "sm", "sv"])
    cases.append(write_case(out, "test_batchnorm_opset9_training_five_outputs", 9, node,
                            [("x", x), ("s", s), ("b", b), ("m", m), ("v", v)],
                            [("y", y), ("mean", 0.9 * m + 0.1 * bm), ("var", 0.9 * v + 0.1 * bv), ("sm", bm),
                             ("sv", bv)]))
    return cases


def more_ops(out):
    """The older versions of the ops PyTorch exports besides Gemm/Relu/LeakyRelu/Softmax, whose node tests ONNX 1.12
    makes only at the newest version; and MatMul with 1-D operands, which no node test has."""
    cases = []
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    x4 = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    # Elementwise: Sigmoid and Tanh at 1 and 6, Identity at 1, 13 and 14.
    for op, ref in (("Sigmoid", lambda v: 1 / (1 + np.exp(-v.astype(np.float64)))), ("Tanh", np.tanh)):
        for opset in (1, 6):
            cases.append(write_case(out, f"test_{op.lower()}_opset{opset}", opset, helper.make_node(op, ["x"], ["y"]),
                                    [("x", x)], [("y", ref(x))]))
    for opset in (1, 13, 14):
        cases.append(write_case(out, f"test_identity_opset{opset}", opset, helper.make_node("Identity", ["x"], ["y"]),
                                [("x", x)], [("y", x)]))
    # LogSoftmax before 13: coerced to 2-D at axis (default 1), like Softmax.
    for opset in (1, 11):
        for tag, extra, axis in (("default", {}, 1), ("axis2", dict(axis=2), 2), ("axis0", dict(axis=0), 0)):
            node = helper.make_node("LogSoftmax", ["x"], ["y"], **extra)
            cases.append(write_case(out, f"test_logsoftmax_opset{opset}_{tag}", opset, node, [("x", x)],
                                    [("y", np.log(softmax_ref(x, axis, coerced=True)))]))
    # Flatten: axis 0 to rank at 1 and 9 (9 adds types), negative axes from 11.
    for opset, axis in ((1, 2), (1, 0), (9, 4), (11, -1), (11, -3)):
        a = axis % 4 if axis < 0 else axis
        want = x4.reshape(int(np.prod(x4.shape[:a])), -1)
        cases.append(write_case(out, f"test_flatten_opset{opset}_axis{axis}".replace("-", "neg"), opset,
                                helper.make_node("Flatten", ["x"], ["y"], axis=axis), [("x", x4)], [("y", want)]))
    # Transpose at 1: a permutation and the default (reversed axes).
    for tag, extra, perm in (("perm201", dict(perm=[2, 0, 1]), (2, 0, 1)), ("default", {}, None)):
        cases.append(write_case(out, f"test_transpose_opset1_{tag}", 1, helper.make_node("Transpose", ["x"], ["y"], **extra),
                                [("x", x)], [("y", np.transpose(x, perm))]))
    # MatMul at 1 and 9 (numpy semantics throughout), and 1-D operands at 13.
    def matmul_case(name, opset, a_shape, b_shape):
        a = rng.standard_normal(a_shape).astype(np.float32)
        b = rng.standard_normal(b_shape).astype(np.float32)
        cases.append(write_case(out, name, opset, helper.make_node("MatMul", ["a", "b"], ["y"]), [("a", a), ("b", b)],
                                [("y", np.matmul(a.astype(np.float64), b.astype(np.float64)))]))
    matmul_case("test_matmul_opset1_2d", 1, (3, 4), (4, 5))
    matmul_case("test_matmul_opset1_batch_broadcast", 1, (1, 3, 4), (2, 4, 5))
    matmul_case("test_matmul_opset9_2d", 9, (3, 4), (4, 5))
    matmul_case("test_matmul_opset9_batch_broadcast", 9, (2, 3, 4), (4, 5))
    matmul_case("test_matmul_1d_2d", 13, (4,), (4, 5))
    matmul_case("test_matmul_1d_3d", 13, (4,), (2, 4, 5))
    matmul_case("test_matmul_2d_1d", 13, (3, 4), (4,))
    matmul_case("test_matmul_3d_1d", 13, (2, 3, 4), (4,))
    matmul_case("test_matmul_1d_1d", 13, (4,), (4,))
    # Add at 1: B broadcast to A only with broadcast = 1.
    a = rng.standard_normal((3, 4)).astype(np.float32)
    for tag, b_shape, extra in (("3x4", (3, 4), {}), ("4", (4,), dict(broadcast=1))):
        b = rng.standard_normal(b_shape).astype(np.float32)
        cases.append(write_case(out, f"test_add_opset1_{tag}", 1, helper.make_node("Add", ["a", "b"], ["y"], **extra),
                                [("a", a), ("b", b)], [("y", a + b)]))
    # Dropout in inference: the identity. is_test = 1 before 7; ratio as an attribute until 12, an input from 12.
    for opset, extra in ((1, dict(is_test=1, ratio=0.3)), (6, dict(is_test=1)), (7, dict(ratio=0.2)), (10, {})):
        cases.append(write_case(out, f"test_dropout_opset{opset}", opset, helper.make_node("Dropout", ["x"], ["y"], **extra),
                                [("x", x)], [("y", x)]))
    cases.append(write_case(out, "test_dropout_opset12_ratio_input", 12, helper.make_node("Dropout", ["x", "r"], ["y"]),
                            [("x", x)], [("y", x)], [("r", np.array(0.4, np.float32))]))
    # Squeeze and Unsqueeze: axes as an attribute at 1 and 11 (negative from 11), a constant input from 13 (the node
    # tests feed it as a graph input); Squeeze with no axes drops every dim of 1.
    x = rng.standard_normal((1, 3, 1, 5)).astype(np.float32)
    for opset, tag, axes in ((1, "axes02", [0, 2]), (1, "all", None), (11, "axesneg2", [-2]), (13, "all", None)):
        node = helper.make_node("Squeeze", ["x"], ["y"], **({} if axes is None else dict(axes=axes)))
        want = np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(axes))
        cases.append(write_case(out, f"test_squeeze_opset{opset}_{tag}", opset, node, [("x", x)], [("y", want)]))
    cases.append(write_case(out, "test_squeeze_opset13_constant_axes", 13, helper.make_node("Squeeze", ["x", "axes"], ["y"]),
                            [("x", x)], [("y", np.squeeze(x, axis=0))], [("axes", np.array([0], np.int64))]))
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    for opset, tag, axes, where in ((1, "axes04", [0, 4], (0, 4)), (11, "axesneg1_1", [-1, 1], (4, 1))):
        cases.append(write_case(out, f"test_unsqueeze_opset{opset}_{tag}", opset,
                                helper.make_node("Unsqueeze", ["x"], ["y"], axes=axes), [("x", x)],
                                [("y", np.expand_dims(x, where))]))
    cases.append(write_case(out, "test_unsqueeze_opset13_constant_axes", 13,
                            helper.make_node("Unsqueeze", ["x", "axes"], ["y"]), [("x", x)],
                            [("y", np.expand_dims(x, (0, 2)))], [("axes", np.array([2, 0], np.int64))]))
    # Selu: Selu-1's defaults are the constants to 5 digits (alpha 1.6732, gamma 1.0507), Selu-6's float32's nearest
    # to the exact ones, a relative difference of 4e-5; and both versions with alpha and gamma given.
    x = rng.standard_normal((3, 4, 5)).astype(np.float32) * 2
    def selu(v, alpha, gamma):
        v = v.astype(np.float64)
        return np.float64(np.float32(gamma)) * np.where(v > 0, v, np.float64(np.float32(alpha)) * np.expm1(v))
    for opset, tag, extra, alpha, gamma in ((1, "default", {}, 1.6732, 1.0507),
                                            (1, "attrs", dict(alpha=2.0, gamma=3.0), 2.0, 3.0),
                                            (6, "default", {}, 1.67326319217681884765625, 1.05070102214813232421875)):
        cases.append(write_case(out, f"test_selu_opset{opset}_{tag}", opset, helper.make_node("Selu", ["x"], ["y"], **extra),
                                [("x", x)], [("y", selu(x, alpha, gamma))]))
    # Clip: the bounds as attributes before 11 (defaults: float32's lowest and max), as optional inputs from 11
    # (graph inputs, initializers, or absent); 12 adds the integer types.
    x = (rng.standard_normal((3, 4, 5)) * 2).astype(np.float32)
    for opset in (1, 6):
        for tag, extra in (("both", dict(min=-1.0, max=0.5)), ("min", dict(min=0.0)), ("default", {})):
            lo, hi = extra.get("min", -np.inf), extra.get("max", np.inf)
            cases.append(write_case(out, f"test_clip_opset{opset}_{tag}", opset,
                                    helper.make_node("Clip", ["x"], ["y"], **extra), [("x", x)], [("y", np.clip(x, lo, hi))]))
    lo, hi = np.array(-0.5, np.float32), np.array(1.0, np.float32)
    for opset in (11, 12):
        cases.append(write_case(out, f"test_clip_opset{opset}_inputs", opset, helper.make_node("Clip", ["x", "min", "max"], ["y"]),
                                [("x", x), ("min", lo), ("max", hi)], [("y", np.clip(x, lo, hi))]))
        cases.append(write_case(out, f"test_clip_opset{opset}_max_only", opset, helper.make_node("Clip", ["x", "", "max"], ["y"]),
                                [("x", x), ("max", hi)], [("y", np.minimum(x, hi))]))
        cases.append(write_case(out, f"test_clip_opset{opset}_initializers", opset,
                                helper.make_node("Clip", ["x", "min", "max"], ["y"]), [("x", x)], [("y", np.clip(x, lo, hi))],
                                [("min", lo), ("max", hi)]))
    xi = rng.integers(-128, 128, (3, 4)).astype(np.int8)
    cases.append(write_case(out, "test_clip_opset12_int8", 12, helper.make_node("Clip", ["x", "min", "max"], ["y"]),
                            [("x", xi), ("min", np.array(-20, np.int8)), ("max", np.array(90, np.int8))],
                            [("y", np.clip(xi, -20, 90).astype(np.int8))]))
    return cases


def arith_ops(out):
    """Mul, Sub, Div and Pow before ONNX's node tests' opsets: B broadcast to A only with broadcast = 1 before 7,
    numpy broadcasting from 7, the same dtypes for base and exponent before Pow-12; and ReduceSum's axes as an
    attribute before 13."""
    cases = []
    refs = {"Mul": np.multiply, "Sub": np.subtract, "Div": np.divide, "Pow": np.power}
    a = rng.standard_normal((3, 4)).astype(np.float32)
    for op, versions in (("Mul", (1, 6, 7, 13)), ("Sub", (1, 6, 7, 13)), ("Div", (1, 6, 7, 13)), ("Pow", (1, 7, 12, 13))):
        base = np.abs(a) + 0.5 if op == "Pow" else a  # real powers
        for opset in versions:
            shapes = [((3, 4), {})]
            if opset < 7:
                shapes.append(((4,), dict(broadcast=1)))
            else:
                shapes += [((1, 4), {}), ((3, 1), {})]
            for b_shape, extra in shapes:
                b = rng.standard_normal(b_shape).astype(np.float32)
                if op == "Div":
                    b = np.where(np.abs(b) < 0.1, np.float32(0.5), b)
                node = helper.make_node(op, ["a", "b"], ["y"], **extra)
                name = f"test_{op.lower()}_opset{opset}_{'x'.join(map(str, b_shape))}"
                y = refs[op](base.astype(np.float64), b.astype(np.float64))
                cases.append(write_case(out, name, opset, node, [("a", base), ("b", b)], [("y", y)]))
        # Both broadcast, A's (3,1) against B's (1,4), at 7: the operand order kept.
        col = rng.standard_normal((3, 1)).astype(np.float32)
        col = np.abs(col) + 0.5 if op == "Pow" else col  # a positive base
        row = rng.standard_normal((1, 4)).astype(np.float32)
        row = np.abs(row) + 0.5 if op == "Div" else row  # a divisor away from 0
        node = helper.make_node(op, ["a", "b"], ["y"])
        cases.append(write_case(out, f"test_{op.lower()}_opset7_both_broadcast", 7, node, [("a", col), ("b", row)],
                                [("y", refs[op](col.astype(np.float64), row.astype(np.float64)))]))
    # Pow-12 and 13: the exponent of another dtype than the base.
    x = np.array([1.5, 2.0, 3.0, 0.5], np.float32)
    for opset in (12, 13):
        for e in (np.array([2, 3, -1, 4], np.int64), np.array([2, 0, 3, 1], np.uint8)):
            node = helper.make_node("Pow", ["x", "e"], ["y"])
            cases.append(write_case(out, f"test_pow_opset{opset}_float32_{e.dtype.name}", opset, node,
                                    [("x", x), ("e", e)], [("y", np.power(x.astype(np.float64), e.astype(np.float64)))]))
        xi, ef = np.array([2, -3, 4, 7], np.int32), np.array([2.0, 3.0, 0.5, 1.5], np.float32)
        node = helper.make_node("Pow", ["x", "e"], ["y"])
        cases.append(write_case(out, f"test_pow_opset{opset}_int32_float32", opset, node, [("x", xi), ("e", ef)],
                                [("y", np.power(xi, ef).astype(np.int32))]))
    # ReduceSum with axes as an attribute: 1 and 11 (negative axes from 11); no axes: every axis.
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    for opset, tag, extra, axes, keep in ((1, "axis1", dict(axes=[1]), (1,), True),
                                          (1, "all_do_not_keepdims", dict(keepdims=0), None, False),
                                          (11, "neg_axes", dict(axes=[-1, 0], keepdims=0), (2, 0), False),
                                          (11, "default", {}, None, True)):
        node = helper.make_node("ReduceSum", ["x"], ["y"], **extra)
        y = x.astype(np.float64).sum(axis=axes, keepdims=keep)
        cases.append(write_case(out, f"test_reducesum_opset{opset}_{tag}", opset, node, [("x", x)], [("y", y)]))
    return cases


def movement_ops(out):
    """The versions of the data-movement ops whose arguments ONNX's node tests (made at the newest) give another way:
    Concat's axis (default 1 at opset 1, not negative before 11), Split's sizes (an input at 1, the attribute at 2 and
    11), Slice's starts/ends/axes (attributes at 1), Cast's `to` (a name at 1)."""
    cases = []
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((2, 4)).astype(np.float32)
    c = rng.standard_normal((1, 3)).astype(np.float32)
    cases.append(write_case(out, "test_concat_opset1_default_axis", 1, helper.make_node("Concat", ["a", "b"], ["y"]),
                            [("a", a), ("b", b)], [("y", np.concatenate([a, b], axis=1))]))
    cases.append(write_case(out, "test_concat_opset4_axis0", 4, helper.make_node("Concat", ["a", "c"], ["y"], axis=0),
                            [("a", a), ("c", c)], [("y", np.concatenate([a, c], axis=0))]))
    cases.append(write_case(out, "test_concat_opset11_axis_neg1", 11,
                            helper.make_node("Concat", ["a", "b"], ["y"], axis=-1), [("a", a), ("b", b)],
                            [("y", np.concatenate([a, b], axis=-1))]))
    x = rng.standard_normal((2, 6)).astype(np.float32)
    parts = np.split(x, [1, 5], axis=1)
    outs = [(f"y{k}", p) for k, p in enumerate(parts)]
    cases.append(write_case(out, "test_split_opset1_input_split", 1,
                            helper.make_node("Split", ["x", "s"], ["y0", "y1", "y2"], axis=1),
                            [("x", x)], outs, [("s", np.array([1, 4, 1], np.int64))]))
    for opset in (2, 11):
        cases.append(write_case(out, f"test_split_opset{opset}_attribute", opset,
                                helper.make_node("Split", ["x"], ["y0", "y1", "y2"], axis=-1 if opset == 11 else 1,
                                                 split=[1, 4, 1]), [("x", x)], outs))
    cases.append(write_case(out, "test_split_opset2_equal_parts", 2,
                            helper.make_node("Split", ["x"], ["y0", "y1"]), [("x", x.T.copy())],
                            [(f"y{k}", p) for k, p in enumerate(np.split(x.T, 2, axis=0))]))
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    cases.append(write_case(out, "test_slice_opset1", 1,
                            helper.make_node("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, 100], axes=[0, 2]),
                            [("x", x)], [("y", x[1:3, :, 0:100])]))
    cases.append(write_case(out, "test_slice_opset1_default_axes_negative", 1,
                            helper.make_node("Slice", ["x"], ["y"], starts=[0, -4], ends=[-1, -1]),
                            [("x", x)], [("y", x[0:-1, -4:-1])]))
    for to, dtype in (("FLOAT", np.float32), ("INT32", np.int32), ("INT64", np.int64), ("BOOL", np.bool_)):
        v = (rng.standard_normal((3, 4)) * 5).astype(np.float32)
        cases.append(write_case(out, f"test_cast_opset1_FLOAT_to_{to}", 1,
                                helper.make_node("Cast", ["x"], ["y"], to=to), [("x", v)], [("y", v.astype(dtype))]))
    return cases


def pad_ops(out):
    """Pad's attribute forms: `paddings` and `value` at 1, `pads` and each mode at 2 (from 11 they are inputs, which
    ONNX's node tests cover), against NumPy's pad (numpy's symmetric-free "reflect" is ONNX's reflect)."""
    cases = []
    x = rng.standard_normal((3, 4)).astype(np.float32)
    cases.append(write_case(out, "test_pad_opset1_constant_value", 1,
                            helper.make_node("Pad", ["x"], ["y"], paddings=[1, 0, 2, 3], value=1.5), [("x", x)],
                            [("y", np.pad(x, ((1, 2), (0, 3)), constant_values=1.5))]))
    for mode in ("constant", "reflect", "edge"):
        cases.append(write_case(out, f"test_pad_opset2_{mode}", 2,
                                helper.make_node("Pad", ["x"], ["y"], pads=[2, 1, 1, 3], mode=mode), [("x", x)],
                                [("y", np.pad(x, ((2, 1), (1, 3)), mode=mode))]))
    return cases


def registry(cli):
    """{op: [since-versions]} from `onnxtrain info --ops` (columns: op, opsets, gradient, versions)."""
    lines = subprocess.run([cli, "info", "--ops"], check=True, capture_output=True, text=True).stdout.splitlines()
    return {f[0]: [int(v) for v in f[3].split(",")] for f in (line.split() for line in lines[1:])}


def snake(op):
    """ReduceMean -> reduce_mean: how ONNX names some ops' node tests (test_reduce_mean_*)."""
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(op))


def in_effect(versions, opset):
    """The op's version a model of this opset runs: its newest since-version not above the opset."""
    return max((v for v in versions if v <= opset), default=0)


def node_tests_at_old_versions(out, cli):
    """ONNX's node tests of each op, rewritten at each version of the op that neither they nor a case above reach."""
    # The generator in onnx 1.12 still uses aliases that numpy 1.24 removed.
    for name, alias in (("float", float), ("int", int), ("bool", bool), ("object", object)):
        setattr(np, name, alias)
    from onnx.backend.test.case import node as node_cases
    by_op = {}
    for case in node_cases.collect_testcases(None):  # None: every op's
        # Tensors, and none of strings (the one exclusion: onnxtrain holds no STRING tensors).
        tensors = all(isinstance(a, np.ndarray) and a.dtype.kind not in "OSU" for arrays in case.data_sets[0]
                      for a in arrays)
        if case.name.endswith("_expanded") or len(case.model.graph.node) != 1 or not tensors:
            continue
        by_op.setdefault(case.model.graph.node[0].op_type, []).append(case)
    cases = []
    newest = onnx.defs.onnx_opset_version()
    for op, versions in registry(cli).items():
        if op == "Constant":  # folded at load: the case above
            continue
        tests = sorted(by_op.get(op, []), key=lambda c: c.name)
        reached = {in_effect(versions, o) for (t, o) in written if t == op}
        reached |= {in_effect(versions, c.model.opset_import[0].version) for c in tests}
        for v in versions:
            if v > newest or v in reached:
                continue
            for c in tests:
                stem = next(p for p in [f"test_{s}" for s in STEMS.get(op, [])] + [f"test_{op.lower()}", f"test_{snake(op)}"]
                            if c.name.startswith(p))
                name = f"test_{op.lower()}_opset{v}" + c.name[len(stem):]
                restamped = restamp(out, name, c, v)
                if restamped:
                    cases.append(restamped)
    return cases


def restamp(out, name, case, opset):
    """case's model and data, the model declaring opset (and that opset's IR version); None where the case is no
    model at that opset (an attribute, output or type the op gained later: MaxPool's ceil_mode, Indices, uint8)."""
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    m = onnx.ModelProto()
    m.CopyFrom(case.model)
    del m.opset_import[:]
    m.opset_import.extend([helper.make_opsetid("", opset)])
    m.ir_version = IR_FOR_OPSET[opset]
    try:
        onnx.checker.check_model(m, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError):
        return None
    os.makedirs(d)
    onnx.save(m, os.path.join(d, "model.onnx"))
    for s, (inputs, outputs) in enumerate(case.data_sets):
        os.makedirs(os.path.join(d, f"test_data_set_{s}"))
        for kind, arrays, infos in (("input", inputs, m.graph.input), ("output", outputs, m.graph.output)):
            for i, (a, info) in enumerate(zip(arrays, infos)):
                with open(os.path.join(d, f"test_data_set_{s}", f"{kind}_{i}.pb"), "wb") as f:
                    f.write(numpy_helper.from_array(np.asarray(a), info.name).SerializeToString())
    return name


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: make_old_opset_tests.py OUTDIR [ONNXTRAIN_CLI]")
    main(*sys.argv[1:])
