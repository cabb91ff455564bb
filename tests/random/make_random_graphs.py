"""Writes random small graphs of the ops onnxtrain runs, with PyTorch's results for them: the reference for
tests/random/test_random_graphs.cpp, which checks compositions of ops (fusions, kernel choices, gradient fan-in)
that the one-op conformance cases and the MLP parity models do not reach.

Each case NAME gets NAME.onnx and NAME.npz: x (the input), y (the output, from a float64 PyTorch interpretation of
the graph) and, where the output keeps the input's batch dimension, the result of one SGD step (lr 0.1) on mse
against targets of 0.5: loss and w:<initializer> for every float initializer. Weights are drawn with variance 1/K,
as layers are initialized, so activations stay near 1 and float32 rounding stays small. Deterministic."""
import os
import random
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

OPS = ["MatMul", "Gemm", "Add", "MatMul", "Gemm", "Add", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax",
       "LogSoftmax", "Identity", "Flatten", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Dropout",
       # The MLP-breadth ops: elementwise, arithmetic against a weight, reductions, data movement, normalization.
       "Abs", "Erf", "Elu", "Selu", "Softplus", "Softsign", "HardSigmoid", "Clip", "Mul", "Sub", "Div",
       "ReduceMean", "ReduceSum", "ReduceMax", "Concat", "Slice", "Gather", "LayerNormalization"]
SINCE = {"Erf": 9, "LayerNormalization": 17}  # the ops first defined after opset 7, the lowest drawn


def apply(op, attrs, ins, opset):
    """The op on torch tensors (float64; integer inputs as int64 tensors), as ONNX defines it at opset."""
    x = ins[0]
    if op == "Relu": return torch.relu(x)
    if op == "LeakyRelu": return torch.where(x > 0, x, float(np.float32(attrs.get("alpha", 0.01))) * x)
    if op == "Sigmoid": return torch.sigmoid(x)
    if op == "Tanh": return torch.tanh(x)
    if op in ("Identity", "Dropout"): return x  # Dropout: inference, or training at ratio 0 (see below)
    if op in ("Softmax", "LogSoftmax"):
        r = x.dim()
        ax = attrs.get("axis", 1 if opset < 13 else -1)
        ax = ax + r if ax < 0 else ax
        f = torch.log_softmax if op == "LogSoftmax" else torch.softmax
        if opset < 13:  # coerced to 2-D at axis
            return f(x.reshape(int(np.prod(x.shape[:ax])), -1), 1).reshape(x.shape)
        return f(x, ax)
    if op == "Flatten":
        ax = attrs.get("axis", 1)
        ax = ax + x.dim() if ax < 0 else ax
        return x.reshape(int(np.prod(x.shape[:ax])), int(np.prod(x.shape[ax:])))
    if op == "Transpose": return x.permute(*attrs["perm"])
    if op == "MatMul": return torch.matmul(x, ins[1])
    if op == "Add": return x + ins[1]
    if op == "Reshape":
        return x.reshape([x.shape[k] if d == 0 else int(d) for k, d in enumerate(ins[1])])
    if op in ("Squeeze", "Unsqueeze"):
        axes = attrs.get("axes") if opset < 13 else ([int(v) for v in ins[1]] if len(ins) > 1 else None)
        if op == "Squeeze":
            if not axes:
                return x.reshape([d for d in x.shape if d != 1])
            axes = [a + x.dim() if a < 0 else a for a in axes]
            return x.reshape([d for k, d in enumerate(x.shape) if k not in axes])
        r = x.dim() + len(axes)
        for a in sorted(a + r if a < 0 else a for a in axes):
            x = x.unsqueeze(a)
        return x
    if op == "Abs": return x.abs()
    if op == "Erf": return torch.erf(x)
    if op == "Elu": return torch.nn.functional.elu(x, float(np.float32(attrs.get("alpha", 1.0))))
    if op == "Selu": return torch.selu(x)
    if op == "Softplus": return torch.nn.functional.softplus(x)
    if op == "Softsign": return x / (1 + x.abs())
    if op == "HardSigmoid":
        a, b = float(np.float32(attrs.get("alpha", 0.2))), float(np.float32(attrs.get("beta", 0.5)))
        return torch.clamp(a * x + b, 0, 1)
    if op == "Clip":
        lo, hi = (attrs["min"], attrs["max"]) if opset < 11 else (float(ins[1]), float(ins[2]))
        return torch.clamp(x, float(np.float32(lo)), float(np.float32(hi)))
    if op == "Mul": return x * ins[1]
    if op == "Sub": return x - ins[1]
    if op == "Div": return x / ins[1]
    if op in ("ReduceMean", "ReduceSum", "ReduceMax"):
        axes = attrs["axes"] if op != "ReduceSum" or opset < 13 else [int(v) for v in ins[1]]
        keep = bool(attrs.get("keepdims", 1))
        if op == "ReduceMax": return torch.amax(x, dim=axes, keepdim=keep)
        return (torch.mean if op == "ReduceMean" else torch.sum)(x, dim=axes, keepdim=keep)
    if op == "Concat": return torch.cat([x, ins[1]], dim=attrs["axis"])
    if op == "Slice":
        if opset < 10:
            starts, ends, axes = attrs["starts"], attrs["ends"], attrs["axes"]
        else:
            starts, ends, axes = ([int(v) for v in t] for t in ins[1:4])
        for st, en, ax in zip(starts, ends, axes):  # step 1: Python's slicing, clamped the same way
            x = torch.index_select(x, ax, torch.arange(x.shape[ax])[slice(st, en)])
        return x
    if op == "Gather":
        ax = attrs.get("axis", 0)
        return torch.index_select(x, ax, ins[1].reshape(-1)).reshape(
            list(x.shape[:ax]) + list(ins[1].shape) + list(x.shape[ax + 1:]))
    if op == "LayerNormalization":
        return torch.nn.functional.layer_norm(x, x.shape[-1:], ins[1], ins[2], float(np.float32(1e-5)))
    if op == "Gemm":
        a = x.T if attrs.get("transA", 0) else x
        b = ins[1].T if attrs.get("transB", 0) else ins[1]
        y = attrs.get("alpha", 1.0) * (a @ b)
        return y + attrs.get("beta", 1.0) * ins[2] if len(ins) > 2 else y
    raise ValueError(op)


class Builder:
    def __init__(self, rng, opset, big):
        self.rng, self.opset, self.big = rng, opset, big
        self.nodes, self.inits, self.values = [], [], {}

    def weight(self, name, shape, k):
        w = np.asarray(np.random.default_rng(self.rng.randrange(1 << 30)).standard_normal(shape) / np.sqrt(max(k, 1)),
                       np.float32)
        self.inits.append(numpy_helper.from_array(w, name))
        self.values[name] = torch.tensor(w.astype(np.float64), requires_grad=True)
        return name

    def ints(self, name, v):
        self.inits.append(numpy_helper.from_array(np.array(v, np.int64), name))
        self.values[name] = torch.tensor(v, dtype=torch.int64)
        return name

    def dims(self):
        return self.rng.choice([1, 17, 33, 64, 130, 300] if self.big else [1, 1, 2, 3, 5, 7])

    def step(self, cur, j):
        """Adds one random node reading cur; returns its output's name, or None where the op does not fit."""
        rng, x, opset = self.rng, self.values[cur], self.opset
        r, s = x.dim(), list(x.shape)
        op = rng.choice(OPS)
        if opset < SINCE.get(op, 1): return None
        ins, attrs = [cur], {}
        if op == "LeakyRelu":
            attrs["alpha"] = rng.choice([0.0, 0.1, -0.5, 2.0])
        elif op in ("Softmax", "LogSoftmax"):
            if r == 0: return None
            attrs["axis"] = rng.randint(-r, r - 1)
        elif op == "Flatten":
            attrs["axis"] = rng.randint(-r if opset >= 11 else 0, r)
        elif op == "Transpose":
            perm = list(range(r)); rng.shuffle(perm); attrs["perm"] = perm
        elif op == "MatMul":
            if r == 0: return None
            k, n = s[-1], self.dims()
            shape = rng.choice([[k, n], [k]] + ([[2, k, n]] if r >= 2 else []))
            ins.append(self.weight(f"w{j}", shape, k))
        elif op == "Add":
            tail = s[rng.randint(0, r):]
            ins.append(self.weight(f"b{j}", [d if rng.random() < 0.6 else 1 for d in tail], 1))
        elif op == "Gemm":
            if r != 2: return None
            m, k = s
            n = self.dims()
            attrs["transB"] = rng.randint(0, 1)
            attrs["alpha"], attrs["beta"] = rng.choice([1.0, 0.5]), rng.choice([1.0, 2.0])
            ins.append(self.weight(f"g{j}", [n, k] if attrs["transB"] else [k, n], k))
            c = rng.choice([None, [n], [1, n], [m, n], [m, 1], []])
            if c is None and opset < 11: return None
            if c is not None: ins.append(self.weight(f"c{j}", c, 1))
        elif op == "Reshape":
            n = int(np.prod(s))
            ins.append(self.ints(f"s{j}", rng.choice([[-1], [n], [1, -1], [0, -1] if r else [-1], [-1, 1]])))
        elif op == "Squeeze":
            ones = [i for i, d in enumerate(s) if d == 1]
            axes = rng.sample(ones, rng.randint(0, len(ones))) if ones else []
            axes = [a - r if rng.random() < 0.3 and opset >= 11 else a for a in axes]
            if axes and opset >= 13: ins.append(self.ints(f"a{j}", axes))
            elif axes: attrs["axes"] = axes
        elif op == "Unsqueeze":
            axes = sorted(rng.sample(range(r + 1), rng.randint(1, min(2, r + 1))))
            if opset >= 13: ins.append(self.ints(f"a{j}", axes))
            else: attrs["axes"] = axes
        elif op in ("Abs", "Erf", "Selu", "Softplus", "Softsign"):
            pass
        elif op == "Elu":
            attrs["alpha"] = rng.choice([1.0, 0.5])
        elif op == "HardSigmoid":
            attrs["alpha"], attrs["beta"] = rng.choice([(0.2, 0.5), (0.3, 0.4)])
        elif op == "Clip":
            lo, hi = rng.choice([(-0.5, 0.5), (0.0, 6.0), (-1.0, 2.0)])
            if opset < 11:
                attrs["min"], attrs["max"] = lo, hi
            else:
                for nm, v in (("lo", lo), ("hi", hi)):
                    self.inits.append(numpy_helper.from_array(np.array(v, np.float32), f"{nm}{j}"))
                    self.values[f"{nm}{j}"] = torch.tensor(v, dtype=torch.float64)
                    ins.append(f"{nm}{j}")
        elif op in ("Mul", "Sub", "Div"):
            tail = s[rng.randint(0, r):]
            w = self.weight(f"m{j}", [d if rng.random() < 0.6 else 1 for d in tail], 1)
            if op == "Div":  # a divisor kept away from 0: 1 + |w|, as a constant of the graph's own
                v = self.values[w].detach().abs() + 1
                self.inits[-1] = numpy_helper.from_array(v.numpy().astype(np.float32), w)
                self.values[w] = torch.tensor(v.numpy().astype(np.float32).astype(np.float64), requires_grad=True)
            ins.append(w)
        elif op in ("ReduceMean", "ReduceSum", "ReduceMax"):
            if r == 0: return None
            axes = sorted(rng.sample(range(r), rng.randint(1, r)))
            attrs["keepdims"] = rng.randint(0, 1)
            if op == "ReduceSum" and opset >= 13: ins.append(self.ints(f"a{j}", axes))
            else: attrs["axes"] = axes
        elif op == "Concat":
            if r == 0: return None
            attrs["axis"] = rng.randrange(r)
            ins.append(self.weight(f"k{j}", [self.dims() if k == attrs["axis"] else d for k, d in enumerate(s)], 1))
        elif op == "Slice":
            if r == 0: return None
            ax = rng.randrange(r)
            d = s[ax]
            st, en = rng.choice([(0, d), (1, d), (0, -1), (-2, d + 5)])
            if opset < 10:
                attrs["starts"], attrs["ends"], attrs["axes"] = [st], [en], [ax]
            else:
                ins += [self.ints(f"s{j}", [st]), self.ints(f"e{j}", [en]), self.ints(f"x{j}", [ax])]
        elif op == "Gather":
            if r == 0: return None
            attrs["axis"] = rng.randrange(r)
            idx = [rng.randrange(s[attrs["axis"]]) for _ in range(rng.randint(1, 3))]
            ins.append(self.ints(f"i{j}", idx))
        elif op == "LayerNormalization":
            if opset < 17 or r == 0: return None
            ins += [self.weight(f"ln_w{j}", [s[-1]], 1), self.weight(f"ln_b{j}", [s[-1]], 1)]
        elif op == "Dropout":
            if opset < 12: return None
            # ratio 0 as an input: the identity in training too, so PyTorch's step is the reference
            name = f"ratio{j}"
            self.inits.append(numpy_helper.from_array(np.array(0.0, np.float32), name))
            self.values[name] = torch.tensor(0.0, dtype=torch.float64)
            ins.append(name)
        try:
            with torch.no_grad():
                y = apply(op, attrs, [self.values[i] for i in ins], opset)
        except (RuntimeError, ValueError, IndexError):
            return None
        if y.numel() == 0 or y.dim() > 6 or y.numel() > 400000: return None
        out = f"v{j}"
        self.nodes.append(helper.make_node(op, ins, [out], name=f"{op.lower()}{j}", **attrs))
        self.values[out] = y
        self.ops = getattr(self, "ops", []) + [(op, attrs, ins, out)]
        return out


def forward(b, x):
    """The graph in torch with autograd on the weights."""
    env = dict(b.values)
    env["x"] = x
    for op, attrs, ins, out in b.ops:
        env[out] = apply(op, attrs, [env[i] for i in ins], b.opset)
    return env[b.ops[-1][3]]


def make_case(out, name, seed, big):
    rng = random.Random(seed)
    opset = rng.choice([7, 9, 11, 13, 14, 17])
    b = Builder(rng, opset, big)
    rank = rng.choice([2, 2, 3] if big else [1, 2, 2, 3, 4])
    shape = [b.dims() for _ in range(rank)]
    xv = np.asarray(np.random.default_rng(seed).standard_normal(shape), np.float32)
    b.values["x"] = torch.from_numpy(xv.astype(np.float64))
    cur = "x"
    for j in range(rng.randint(1, 5)):
        cur = b.step(cur, j) or cur
    if not b.nodes:
        return False
    y = b.values[cur]
    used = {i for n in b.nodes for i in n.input}  # a node that did not fit may have left a weight behind
    b.inits = [t for t in b.inits if t.name in used]
    graph = helper.make_graph(b.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(cur, TensorProto.FLOAT, list(y.shape))], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnxtrain-tests")
    model.ir_version = 7 if opset >= 13 else 6 if opset >= 11 else 4
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, name + ".onnx"))
    arrays = {"x": xv, "y": y.numpy().astype(np.float32)}
    weights = {k: v for k, v in b.values.items() if k in used and v.requires_grad}
    if weights and y.dim() > 0 and y.shape[0] == shape[0]:  # a batch dimension the step can feed
        x = torch.from_numpy(xv.astype(np.float64))
        loss = ((forward(b, x) - 0.5) ** 2).mean()
        loss.backward()
        arrays["loss"] = np.array(loss.item(), np.float64)
        for k, w in weights.items():
            g = w.grad if w.grad is not None else torch.zeros_like(w)
            arrays["w:" + k] = (w.detach() - 0.1 * g).numpy().astype(np.float32)
    np.savez(os.path.join(out, name + ".npz"), **arrays)
    return True


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    names = []
    for big, count, prefix in ((False, 150, "small"), (True, 40, "large")):
        seed = 0
        while sum(n.startswith(prefix) for n in names) < count:
            seed += 1
            name = f"{prefix}{seed:04d}"
            if make_case(out, name, seed + (100000 if big else 0), big):
                names.append(name)
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    print(len(names), "cases")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_random_graphs.py OUTDIR")
    main(sys.argv[1])
