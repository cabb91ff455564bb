// Graph-level fusion before compiling: a Relu or LeakyRelu that alone reads a Gemm's output becomes that Gemm's
// eltwise post-op, so the pre-activation is never written; the decomposition of layer normalization PyTorch writes
// before opset 17 becomes one LayerNormalization. They change no values, only where they are computed.
#pragma once
#include "runtime/ir/graph.h"

namespace onnxtrain {

// Rewrites g in place. Run it after autodiff: a gradient rule that reads the pre-activation (LeakyRelu with a
// negative slope) keeps the pair apart, since the pre-activation then has a second reader.
void fuse_activations(ir::Graph& g);

// Rewrites g in place: the chain torch.onnx.export writes for nn.LayerNorm before opset 17,
//   m = ReduceMean(x, trailing axes); d = Sub(x, m); v = ReduceMean(Pow(d, 2)); q = Div(d, Sqrt(Add(v, eps)));
//   y = Add(Mul(q, weight), bias)     (Add(.., bias) optional)
// becomes y = LayerNormalization(x, weight, bias) over those axes, when nothing else reads its inner values and weight
// and bias have the normalized dims. Run it before autodiff, so that training differentiates the one primitive; an
// unmatched graph keeps its nodes.
void fuse_layer_norm(ir::Graph& g);

}  // namespace onnxtrain
