// Graph-level fusion before compiling. fuse_activations: a Relu or LeakyRelu that alone reads a Gemm's or a Conv's
// output becomes its eltwise post-op, so the pre-activation is never written. fuse_patterns: an activation PyTorch
// exports as several elementwise ops becomes one FusedActivation node (one oneDNN eltwise primitive forward, one
// backward). fuse_layer_norm: the decomposition of layer normalization PyTorch writes before opset 17 becomes one
// LayerNormalization. None changes what is computed beyond float32 rounding, only where.
#pragma once
#include "runtime/ir/graph.h"

namespace onnxtrain {

// Rewrites g in place. Run it after autodiff: a gradient rule that reads the pre-activation (LeakyRelu with a
// negative slope) keeps the pair apart, since the pre-activation then has a second reader.
void fuse_activations(ir::Graph& g);

// Rewrites g in place, after autodiff: a Relu's gradient taken after a max pool's, dX = ReluGrad(PoolGrad(dP), Y)
// with Y the pool's input, becomes dX = PoolGrad(ReluGrad(dP, P)) with P the pool's output. PoolGrad puts each
// window's gradient on its argmax, whose value is P, so masking by P > 0 before it masks the same elements; but on
// the pooled tensor, a quarter of the size for a 2x2 pool. Exact: the mask multiplies by 0 or 1. ReluGrad from Y (the
// Relu's output, which the pool reads) with slope 0 only.
void mask_before_max_pool(ir::Graph& g);

// Rewrites g in place, before autodiff: Pad with zeros on the spatial axes (constant mode, value 0, pads >= 0, none on
// N and C), read only by an AveragePool (opset 7 on, no auto_pad, no ceil_mode, and no pads of its own unless it
// counts them), becomes the AveragePool's own pads with count_include_pad = 1, as torch.onnx.export writes
// nn.AvgPool2d(padding=p) at some opsets. The window then averages the same values, and no padded copy is made.
// params: the float Constants' values, against which Pad's constant_value is checked.
void fold_zero_pad(ir::Graph& g, const float* params);

// Rewrites g in place: the chain torch.onnx.export writes for nn.LayerNorm before opset 17,
//   m = ReduceMean(x, trailing axes); d = Sub(x, m); v = ReduceMean(Pow(d, 2)); q = Div(d, Sqrt(Add(v, eps)));
//   y = Add(Mul(q, weight), bias)     (Add(.., bias) optional)
// becomes y = LayerNormalization(x, weight, bias) over those axes, when nothing else reads its inner values and weight
// and bias have the normalized dims. Run it before autodiff, so that training differentiates the one primitive; an
// unmatched graph keeps its nodes.
void fuse_layer_norm(ir::Graph& g);
// Rewrites g in place, before autodiff (the fused node's gradient replaces the parts'). params: the buffer holding
// the float Constants' values (Graph::params of the model), which the patterns' constants are matched against.
// Matched, as torch.onnx.export (1.13) writes them, each product in any order and association:
//   GELU (erf):  x * 0.5 * (1 + Erf(x / sqrt 2))                 (Div by sqrt 2, or Mul by 1/sqrt 2)
//   GELU (tanh): x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   (x^3: Mul(x, Mul(x, x)) or Pow(x, 3))
//   SiLU:        x * Sigmoid(x)
//   Mish:        x * Tanh(Softplus(x))
//   HardSwish:   x * HardSigmoid(x) with alpha 1/6, beta 1/2   (opset 13's export; 14 on has the HardSwish op)
// Only where every value inside the pattern has that one reader and is no graph output, every constant a float32
// Constant of one element; any other graph keeps its ops.
void fuse_patterns(ir::Graph& g, const float* params);

}  // namespace onnxtrain
