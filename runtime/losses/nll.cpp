// NLLLoss (internal): mean(-logp[label]) on log-probabilities the model already computed, and its gradient
// (-1/N at each label), as PyTorch's NLLLoss, with its class weights and ignore_index. It divides by the normalizer
// it is fed (loss_normalizer's), so that accumulated parts add up to the whole batch's mean. A LogSoftmax head does not
// come here: autodiff fuses it with the loss (SoftmaxCrossEntropyLoss on its input), so its gradient is softmax(x) -
// onehot.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// L: (N, C) log-probabilities; T: (N) class indices (as float); D: () the normalizer. loss: (); dL: (N, C).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  if (in[0].size() != 2 || in[1].size() != 1 || (in[1][0] != in[0][0] && in[0][0] != ir::kUnknown))
    g.fail(n, "nll needs (N, C) log-probabilities and (N) labels, found " + ir::shape_str(in[0]) + " and " +
                  ir::shape_str(in[1]));
  return {{}, in[0]};
}

// loss = -(1/D) * sum_i w[t_i] L[i, t_i];  dL[i, c] = -w[t_i]/D where c = t_i, else 0; D = sum_i w[t_i], over the
// targets not ignored (w = 1 without weights). A normalizer of 0 (every target ignored) gives 0 where torch has NaN.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& ls = ctx.shape(n.inputs[0]);
  const int64_t N = ls[0], C = ls[1];
  dnnl::memory l = ctx.view(n.inputs[0], dnnl_compat::plain(ls));
  dnnl::memory t = ctx.view(n.inputs[1], dnnl_compat::plain({N}));
  const bool fed = n.inputs.size() > 2;  // the normalizer; else this batch's own sum of weights
  dnnl::memory d = fed ? ctx.view(n.inputs[2], dnnl_compat::plain({})) : dnnl::memory();
  const std::vector<float> w = n.attrs.count("weights") ? n.attrs.at("weights").floats : std::vector<float>();
  const int64_t ignore = n.attrs.count("ignore_index") ? n.attrs.at("ignore_index").i : -100;
  dnnl::memory loss = ctx.view(n.outputs[0], dnnl_compat::plain({})),
               dl = ctx.view(n.outputs[1], dnnl_compat::plain(ls));
  Step s;
  s.host = [=]() {
    const float* L = static_cast<const float*>(l.get_data_handle());
    const float* T = static_cast<const float*>(t.get_data_handle());
    float* dL = static_cast<float*>(dl.get_data_handle());
    float D = 0;
    if (fed) {
      D = *static_cast<const float*>(d.get_data_handle());
    } else {
      double sum = 0;
      for (int64_t i = 0; i < N; ++i)
        if (const int64_t y = static_cast<int64_t>(T[i]); y != ignore) sum += w.empty() ? 1.0 : w[size_t(y)];
      D = static_cast<float>(sum);
    }
    double total = 0;
    for (int64_t i = 0; i < N * C; ++i) dL[i] = 0.f;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t y = static_cast<int64_t>(T[i]);
      if (y == ignore || D == 0) continue;
      const float wy = w.empty() ? 1.f : w[static_cast<size_t>(y)];
      total -= double(wy) * L[i * C + y];
      dL[i * C + y] = w.empty() ? -1.f / D : -wy / D;
    }
    *static_cast<float*>(loss.get_data_handle()) = D != 0 ? static_cast<float>(total / double(D)) : 0.f;
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kNLLLoss{
    .type = "NLLLoss", .versions = {1}, .check = no_check, .infer = infer, .forward = forward, .internal = true};

}  // namespace onnxtrain::ops
