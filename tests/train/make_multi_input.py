"""Models with several inputs, and inputs that are not float, for tests/train/test_multi_input.cpp. Writes into OUT:
- two_inputs.onnx: logits = out(relu(fa(a) + fb(b))) on a (N, 3) and b (N, 2, 3), exported from PyTorch, and
  two_inputs.npz: a, b, y, the loss of every step of PyTorch's training (plain SGD, lr 0.1, batches of 16, 2 epochs, no
  shuffling), w:<initializer> final weights and the trained model's output on (a, b).
- typed_inputs.onnx: idx (N, 3) int64 and img (N, 2, 2) uint8, each plus a constant of its dtype: outputs in their
  dtypes. typed_inputs.npz: idx, img and the NumPy results (idx_out, img_out); typed_float_idx.npz (idx as floats),
  typed_wide_img.npz (img as int64 with a 300 in it)."""
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

N, C, BATCH, EPOCHS, LR = 50, 4, 16, 2, 0.1


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fa, self.fb = nn.Linear(3, 8), nn.Linear(6, 8)
        self.out = nn.Linear(8, C)

    def forward(self, a, b):
        return self.out(torch.relu(self.fa(a) + self.fb(torch.flatten(b, 1))))


def two_inputs(out):
    torch.manual_seed(0)
    model = TwoInputs()
    path = os.path.join(out, "two_inputs.onnx")
    torch.onnx.export(model, (torch.zeros(2, 3), torch.zeros(2, 2, 3)), path, opset_version=13,
                      input_names=["a", "b"], output_names=["logits"],
                      dynamic_axes={k: {0: "batch"} for k in ("a", "b", "logits")})
    rng = np.random.default_rng(1)
    a = rng.standard_normal((N, 3)).astype(np.float32)
    b = rng.standard_normal((N, 2, 3)).astype(np.float32)
    y = rng.integers(0, C, N).astype(np.int64)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    losses = []
    for _ in range(EPOCHS):
        for s in range(0, N, BATCH):
            opt.zero_grad()
            loss = nn.CrossEntropyLoss()(model(torch.from_numpy(a[s:s + BATCH]), torch.from_numpy(b[s:s + BATCH])),
                                         torch.from_numpy(y[s:s + BATCH]))
            loss.backward()
            opt.step()
            losses.append(loss.item())
    state = model.state_dict()
    names = [t.name for t in onnx.load(path).graph.initializer]
    assert all(n in state for n in names), names
    with torch.no_grad():
        output = model(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.savez(os.path.join(out, "two_inputs.npz"), a=a, b=b, y=y, losses=np.array(losses, np.float64), output=output,
             **{"w:" + n: state[n].numpy() for n in names})


def typed_inputs(out):
    k_idx = np.array([10, -20, 30], np.int64)
    k_img = np.array(7, np.uint8)
    graph = helper.make_graph(
        [helper.make_node("Add", ["idx", "k_idx"], ["idx_out"]), helper.make_node("Add", ["img", "k_img"], ["img_out"])],
        "typed_inputs",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, ["n", 3]),
         helper.make_tensor_value_info("img", TensorProto.UINT8, ["n", 2, 2])],
        [helper.make_tensor_value_info("idx_out", TensorProto.INT64, ["n", 3]),
         helper.make_tensor_value_info("img_out", TensorProto.UINT8, ["n", 2, 2])],
        [numpy_helper.from_array(k_idx, "k_idx"), numpy_helper.from_array(k_img, "k_img")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, "typed_inputs.onnx"))
    rng = np.random.default_rng(2)
    idx = rng.integers(-1000, 1000, (5, 3)).astype(np.int64)
    img = rng.integers(0, 256, (5, 2, 2)).astype(np.uint8)
    np.savez(os.path.join(out, "typed_inputs.npz"), idx=idx, img=img, idx_out=idx + k_idx, img_out=img + k_img)
    np.savez(os.path.join(out, "typed_float_idx.npz"), idx=idx.astype(np.float32), img=img)
    wide = img.astype(np.int64)
    wide[1, 0, 1] = 300
    np.savez(os.path.join(out, "typed_wide_img.npz"), idx=idx, img=wide)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_multi_input.py OUTDIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    torch.set_num_threads(1)
    two_inputs(sys.argv[1])
    typed_inputs(sys.argv[1])
