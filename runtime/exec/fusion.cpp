// Gemm + Relu/LeakyRelu fusion: see fusion.h.
#include "runtime/exec/fusion.h"

#include <algorithm>

#include "runtime/ops/op.h"

namespace onnxtrain {

void fuse_activations(ir::Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  for (ir::Node& gemm : g.nodes) {
    if (gemm.op_type != "Gemm" || gemm.has("onnxtrain.relu_slope")) continue;
    const int pre = gemm.outputs[0];
    const ir::Value& v = g.values[pre];
    if (v.is_output || v.consumers.size() != 1) continue;
    const int k = v.consumers[0];
    const ir::Node& act = g.nodes[k];
    const ops::OpDef* def = ops::find_op(act.op_type);
    if (!def || !def->rectifier_slope) continue;
    const float slope = def->rectifier_slope(act);
    gemm.attrs["onnxtrain.relu_slope"] = ir::Attr::of(slope);
    gemm.outputs[0] = act.outputs[0];
    dead[k] = true;
  }
  std::vector<ir::Node> kept;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (!dead[k]) kept.push_back(std::move(g.nodes[k]));
  g.nodes = std::move(kept);
  // The pre-activation values no node produces now are left unused; finalize relinks producers and consumers.
  for (ir::Value& v : g.values) v.producer = -1;
  g.finalize();
}

}  // namespace onnxtrain
