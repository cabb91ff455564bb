// Graph-level fusion before compiling: a Relu or LeakyRelu that alone reads a Gemm's output becomes that Gemm's
// eltwise post-op, so the pre-activation is never written. It changes no values, only where they are computed.
#pragma once
#include "runtime/ir/graph.h"

namespace onnxtrain {

// Rewrites g in place. Run it after autodiff: a gradient rule that reads the pre-activation (LeakyRelu with a
// negative slope) keeps the pair apart, since the pre-activation then has a second reader.
void fuse_activations(ir::Graph& g);

}  // namespace onnxtrain
