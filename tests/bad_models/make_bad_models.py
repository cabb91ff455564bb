"""Writes broken and hostile model files, one per class of bad input, for tests/model/test_model_io.cpp to assert
the error each one gets. Built with onnx.helper and serialized directly: the checker would refuse most of them."""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, inits=(), opset=13, ir=7):
    g = helper.make_graph(nodes, "bad", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnxtrain-tests")
    m.ir_version = ir
    return m


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def gemm_model(b_init, a_shape=(2, 3)):
    return model([helper.make_node("Gemm", ["x", "B"], ["y"], name="gemm0")], [vi("x", a_shape)], [vi("y", None)],
                 [b_init])


def external(name, location, offset=0, length=None, dims=(3, 4)):
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(dims))
    t.data_location = TensorProto.EXTERNAL
    entries = {"location": location, "offset": str(offset)}
    if length is not None:
        entries["length"] = str(length)
    for k, v in entries.items():
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def relu_model(**kw):
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu0")], [vi("x", [2, 3])], [vi("y", [2, 3])], **kw)


def main(out):
    os.makedirs(out, exist_ok=True)
    files = {}
    good = gemm_model(numpy_helper.from_array(np.ones((3, 4), np.float32), "B")).SerializeToString()
    files["empty.onnx"] = b""
    files["garbage.onnx"] = np.random.default_rng(7).integers(0, 256, 200, dtype=np.uint8).tobytes()
    files["truncated.onnx"] = good[: len(good) // 2]
    files["int64_initializer.onnx"] = gemm_model(numpy_helper.from_array(np.ones((3, 4), np.int64), "B"))
    files["missing_input.onnx"] = model([helper.make_node("Relu", ["ghost"], ["y"], name="relu0")],
                                        [vi("x", [2, 3])], [vi("y", [2, 3])])
    files["cycle.onnx"] = model([helper.make_node("Relu", ["b"], ["a"], name="relu_a"),
                                 helper.make_node("Relu", ["a"], ["b"], name="relu_b")],
                                [vi("x", [2, 3])], [vi("a", [2, 3])])
    files["gemm_mismatch.onnx"] = gemm_model(numpy_helper.from_array(np.ones((4, 5), np.float32), "B"))
    files["softmax_axis.onnx"] = model([helper.make_node("Softmax", ["x"], ["y"], name="softmax0", axis=5)],
                                       [vi("x", [2, 3])], [vi("y", [2, 3])])
    files["unsupported_op.onnx"] = model(
        [helper.make_node("LRN", ["x"], ["y"], name="lrn0", size=3)], [vi("x", [1, 1, 4, 4])], [vi("y", None)])
    # Several unsupported ops: the first node is named, the others counted by type.
    files["unsupported_ops.onnx"] = model(
        [helper.make_node("Det", ["x"], ["e"], name="det0"), helper.make_node("Mod", ["e", "x"], ["m"], name="mod0"),
         helper.make_node("Mod", ["m", "x"], ["m2"], name="mod1"), helper.make_node("Relu", ["m2"], ["y"], name="relu0")],
        [vi("x", [2, 3])], [vi("y", [2, 3])])
    files["ir_version_2.onnx"] = relu_model(ir=2)
    files["opset_99.onnx"] = relu_model(opset=99)
    files["external_missing.onnx"] = gemm_model(external("B", "nope.bin"))
    files["external_escape.onnx"] = gemm_model(external("B", "../escape.bin"))
    files["external_absolute.onnx"] = gemm_model(external("B", "/etc/passwd"))
    files["ext_small.bin"] = bytes(16)
    files["external_out_of_range.onnx"] = gemm_model(external("B", "ext_small.bin", 0, 48))
    # A relative location that is a symlink to a file outside the model's folder (made below, beside the folder).
    files["external_symlink.onnx"] = gemm_model(external("B", "ext_link.bin"))
    # A location that is a folder inside the model's (made below).
    files["external_folder.onnx"] = gemm_model(external("B", "ext_folder.bin"))
    short = TensorProto(name="B", data_type=TensorProto.FLOAT, dims=[1000, 1000], raw_data=bytes(8))
    files["raw_data_short.onnx"] = gemm_model(short, a_shape=(2, 1000))
    huge = TensorProto(name="B", data_type=TensorProto.FLOAT, dims=[1000000, 1000000], raw_data=bytes(4))
    files["huge_dims.onnx"] = gemm_model(huge, a_shape=(2, 1000000))
    files["no_float_input.onnx"] = model([helper.make_node("Relu", ["x"], ["y"], name="relu0")],
                                         [vi("x", [2, 3], TensorProto.INT64)], [vi("y", [2, 3])])
    axes = lambda a: numpy_helper.from_array(np.array(a, np.int64), "axes")
    files["squeeze_not_one.onnx"] = model([helper.make_node("Squeeze", ["x", "axes"], ["y"], name="squeeze0")],
                                          [vi("x", [2, 3])], [vi("y", None)], [axes([1])])
    files["unsqueeze_repeated_axes.onnx"] = model([helper.make_node("Unsqueeze", ["x", "axes"], ["y"], name="unsq0")],
                                                  [vi("x", [2, 3])], [vi("y", None)], [axes([1, -3])])
    files["unsqueeze_no_axes.onnx"] = model([helper.make_node("Unsqueeze", ["x"], ["y"], name="unsq0")],
                                            [vi("x", [2, 3])], [vi("y", None)], opset=11)
    # More dims than oneDNN's descriptors hold (12): made by a node, declared by an input, held by an initializer.
    files["rank13_unsqueeze.onnx"] = model([helper.make_node("Unsqueeze", ["x", "axes"], ["y"], name="unsq0")],
                                           [vi("x", [2, 3])], [vi("y", [1] * 11 + [2, 3])], [axes(list(range(11)))])
    files["rank13_input.onnx"] = model([helper.make_node("Relu", ["x"], ["y"], name="relu0")],
                                       [vi("x", [1] * 11 + [2, 3])], [vi("y", [1] * 11 + [2, 3])])
    files["rank13_initializer.onnx"] = model(
        [helper.make_node("Add", ["x", "B"], ["y"], name="add0")], [vi("x", [2, 3])], [vi("y", [1] * 11 + [2, 3])],
        [numpy_helper.from_array(np.ones([1] * 11 + [2, 3], np.float32), "B")])
    # Unranked: rank comes with the data (tests/model/test_model_io.cpp feeds it 13 dims). onnx 1.12's checker wants a
    # shape on every input, so this is an IR 9 model, which loads on onnxtrain's own checks. Reshape's shape is fed.
    files["unranked_relu.onnx"] = model([helper.make_node("Relu", ["x"], ["y"], name="relu0")],
                                        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], ir=9)
    files["reshape_fed_shape.onnx"] = model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape0")],
                                            [vi("x", [2, 3]), vi("shape", [None], TensorProto.INT64)],
                                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], ir=9)
    # Calls of functions the model defines, as torch.onnx.export(..., export_modules_as_functions=True) writes: expanded
    # at load (test_model_io.cpp runs the good ones). Block calls Leaky twice, which takes its slope by reference.
    def with_functions(nodes, functions):
        m = model(nodes, [vi("x", [2, 3])], [vi("y", [2, 3])])
        m.opset_import.append(helper.make_opsetid("mylib", 1))
        m.functions.extend(functions)
        return m
    leaky = helper.make_function("mylib", "Leaky", ["a"], ["b"], [helper.make_node("LeakyRelu", ["a"], ["b"])],
                                 [helper.make_opsetid("", 13)], attributes=["slope"])
    leaky.node[0].attribute.append(helper.make_attribute_ref("alpha", helper.AttributeProto.FLOAT)
                                   if hasattr(helper, "make_attribute_ref") else helper.make_attribute("alpha", 0.0))
    leaky.node[0].attribute[0].ref_attr_name = "slope"
    block = helper.make_function(
        "mylib", "Block", ["a"], ["b"],
        [helper.make_node("Leaky", ["a"], ["t"], domain="mylib", slope=0.5),
         helper.make_node("Leaky", ["t"], ["b"], domain="mylib", slope=0.2)],
        [helper.make_opsetid("", 13), helper.make_opsetid("mylib", 1)])
    files["local_functions.onnx"] = with_functions([helper.make_node("Block", ["x"], ["y"], name="block0", domain="mylib")],
                                                   [leaky, block])
    loop = helper.make_function("mylib", "Loop", ["a"], ["b"], [helper.make_node("Loop", ["a"], ["b"], domain="mylib")],
                                [helper.make_opsetid("", 13), helper.make_opsetid("mylib", 1)])
    # F0 calls F1 twice, F1 calls F2 twice, ...: 2^30 nodes from 31 small functions.
    doubling = [helper.make_function("mylib", f"F{k}", ["a"], ["b"],
                                     [helper.make_node(f"F{k + 1}", ["a"], ["t"], domain="mylib"),
                                      helper.make_node(f"F{k + 1}", ["t"], ["b"], domain="mylib")],
                                     [helper.make_opsetid("", 13), helper.make_opsetid("mylib", 1)]) for k in range(30)]
    doubling.append(helper.make_function("mylib", "F30", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
                                         [helper.make_opsetid("", 13)]))
    files["function_doubling.onnx"] = with_functions([helper.make_node("F0", ["x"], ["y"], name="f0", domain="mylib")],
                                                     doubling)
    files["function_calls_itself.onnx"] = with_functions(
        [helper.make_node("Loop", ["x"], ["y"], name="loop0", domain="mylib")], [loop])
    # Non-finite float attributes: Gemm's alpha and beta, a FLOATS attribute, a slope passed into a function's body,
    # a Constant's value_float(s). A NaN inside a Constant's value tensor is data and loads.
    b = numpy_helper.from_array(np.ones((3, 4), np.float32), "B")
    c = numpy_helper.from_array(np.ones(4, np.float32), "C")
    files["gemm_alpha_nan.onnx"] = model([helper.make_node("Gemm", ["x", "B"], ["y"], name="gemm0", alpha=float("nan"))],
                                         [vi("x", [2, 3])], [vi("y", [2, 4])], [b])
    files["gemm_beta_inf.onnx"] = model([helper.make_node("Gemm", ["x", "B", "C"], ["y"], name="gemm0",
                                                          beta=float("inf"))], [vi("x", [2, 3])], [vi("y", [2, 4])], [b, c])
    files["floats_attribute_nan.onnx"] = model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu0", scales=[1.0, float("-inf")])],
        [vi("x", [2, 3])], [vi("y", [2, 3])])
    files["function_slope_nan.onnx"] = with_functions(
        [helper.make_node("Leaky", ["x"], ["y"], name="call0", domain="mylib", slope=float("nan"))], [leaky])
    def constant_add(**value):
        return model([helper.make_node("Constant", [], ["k"], name="const0", **value),
                      helper.make_node("Add", ["x", "k"], ["y"], name="add0")], [vi("x", [2, 3])], [vi("y", [2, 3])])
    files["constant_value_float_nan.onnx"] = constant_add(value_float=float("nan"))
    files["constant_value_floats_inf.onnx"] = constant_add(value_floats=[0.0, 1.0, float("inf")])
    files["constant_tensor_nan.onnx"] = constant_add(
        value=numpy_helper.from_array(np.array([np.nan, 1.0, 2.0], np.float32)))
    # Initializers in one external file: the same region twice, regions that overlap by 6 floats, and adjacent regions
    # (which load). Each file holds 96 bytes, as much as the two (3, 4) tensors need together.
    def two_gemms(b1, b2):
        return model([helper.make_node("Gemm", ["x", "B1"], ["y1"], name="gemm1"),
                      helper.make_node("Gemm", ["x", "B2"], ["y2"], name="gemm2")],
                     [vi("x", [2, 3])], [vi("y1", [2, 4]), vi("y2", [2, 4])], [b1, b2])
    files["shared96.bin"] = np.arange(24, dtype=np.float32).tobytes()
    files["external_same_region.onnx"] = two_gemms(external("B1", "shared96.bin", 0, 48),
                                                   external("B2", "shared96.bin", 0, 48))
    files["external_overlap.onnx"] = two_gemms(external("B1", "shared96.bin", 0, 48),
                                               external("B2", "./shared96.bin", 24, 48))
    files["external_adjacent.onnx"] = two_gemms(external("B1", "shared96.bin", 0, 48),
                                                external("B2", "shared96.bin", 48, 48))
    # Reshape of 6 elements to (4, -1), which does not divide.
    files["reshape_indivisible.onnx"] = model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape0")], [vi("x", [2, 3])], [vi("y", None)],
        [numpy_helper.from_array(np.array([4, -1], np.int64), "shape")])
    files["good_relu.onnx"] = relu_model()
    for name, content in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(content if isinstance(content, bytes) else content.SerializeToString())
    outside = os.path.join(os.path.dirname(os.path.abspath(out)), "outside_the_model_folder.bin")
    with open(outside, "wb") as f:
        f.write(bytes(48))
    link = os.path.join(out, "ext_link.bin")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(outside, link)
    os.makedirs(os.path.join(out, "ext_folder.bin"), exist_ok=True)
    print("\n".join(sorted(files)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_bad_models.py OUTDIR")
    main(sys.argv[1])
