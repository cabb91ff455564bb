// BatchNormalization: Y = scale * (X - mean) / sqrt(var + epsilon) + B per channel (axis 1), in the two forms
// PyTorch writes: inference (one output) and training (opset 9-13: Y, mean, var, saved_mean, saved_var; from 14:
// training_mode = 1 and Y, running_mean, running_var). Which statistics a run uses does not follow the file's form but
// the run, as a torch.nn.BatchNorm1d's do: a training run normalizes with the batch's (biased variance) and updates
// the running statistics in place, running = momentum * running + (1 - momentum) * batch, with the unbiased variance
// (N / (N - 1)) as torch does; every other run normalizes with the running statistics (state inputs: initializers no
// optimizer trains). TrainOptions::freeze_batchnorm keeps them fixed in training too (the node's
// onnxtrain.frozen_state). A node of the training form whose statistics are fed rather than stored is ONNX's function
// of its inputs: batch statistics, and the updated ones (ONNX's, from the biased variance) as outputs 1 and 2.
// oneDNN's batch_normalization forward and backward (dX, dscale, dB); spatial = 0 (before opset 9) is refused.
#include <cmath>
#include <string>

#include "onnxtrain/error.h"
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr float kEpsilon = 1e-5f;
constexpr float kMomentum = 0.9f;
// Outputs beyond ONNX's: the batch mean and biased variance, which the gradient rule reads (autodiff adds them).
constexpr size_t kBatchMean = 5, kBatchVar = 6;

float epsilon_of(const ir::Node& n) { return n.attr_f("epsilon", kEpsilon); }
float momentum_of(const ir::Node& n) { return n.attr_f("momentum", kMomentum); }
bool frozen(const ir::Node& n) { return n.attr_i("onnxtrain.frozen_state", 0) != 0; }

// The training form in the file: training_mode = 1 from opset 14, the optional outputs before it.
bool training_form(const ir::Node& n) {
  if (n.version >= 14) return n.attr_i("training_mode", 0) != 0;
  for (size_t k = 1; k < n.outputs.size() && k < 5; ++k)
    if (n.outputs[k] >= 0) return true;
  return false;
}

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 5) g.fail(n, "expected inputs X, scale, B, input_mean and input_var");
  for (int i : n.inputs)
    if (i < 0) g.fail(n, "every input (X, scale, B, input_mean, input_var) is required");
  const size_t most = n.version >= 14 ? 3 : 5;
  if (n.outputs.empty() || n.outputs[0] < 0 || n.outputs.size() > most)
    g.fail(n, "expected Y and at most " + std::to_string(most - 1) + " optional outputs at this opset");
  if (n.version < 9 && n.attr_i("spatial", 1) != 1)
    g.fail(n, "spatial = 0 (statistics per activation) is not supported");
  if (n.version >= 14 && n.attr_i("training_mode", 0) == 0 && n.outputs.size() > 1)
    g.fail(n, "running_mean and running_var are outputs only with training_mode = 1");
  if (!(epsilon_of(n) >= 0.f)) g.fail(n, "epsilon must be >= 0");
}

// X: (N, C, ...); scale, B, input_mean, input_var: (C); Y: X's shape; the statistics outputs: (C).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape& x = in[0];
  if (x.size() < 2) g.fail(n, "X " + ir::shape_str(x) + " must be (N, C, ...)");
  static const char* names[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t k = 1; k < 5; ++k)
    if (in[k].size() != 1 || (x[1] != ir::kUnknown && in[k][0] != ir::kUnknown && in[k][0] != x[1]))
      g.fail(n, std::string(names[k]) + " " + ir::shape_str(in[k]) + " must be (C) for X " + ir::shape_str(x));
  std::vector<Shape> out(std::max<size_t>(n.outputs.size(), 1), Shape{x[1]});
  out[0] = x;
  return out;
}

// X: (N, C, d1, ...) as oneDNN's (N, C, S, 1), S = d1 * ...
dnnl::memory::desc nchw(const Shape& x) {
  int64_t S = 1;
  for (size_t i = 2; i < x.size(); ++i) S *= x[i];
  return dnnl_compat::plain({x[0], x[1], S, 1});
}

// A primitive and its arguments as the C API takes them, for the host step that picks one at run time.
struct Exec {
  dnnl::primitive prim;
  std::unordered_map<int, dnnl::memory> args;
  std::vector<dnnl_exec_arg_t> c_args;
  Exec(dnnl::primitive p, std::unordered_map<int, dnnl::memory> a) : prim(std::move(p)), args(std::move(a)) {
    for (auto& [k, m] : args) c_args.push_back({k, m.get()});
  }
  void operator()(const dnnl::stream& s) const {
    dnnl::error::wrap_c_api(dnnl_primitive_execute(prim.get(), s.get(), static_cast<int>(c_args.size()),
                                                   const_cast<dnnl_exec_arg_t*>(c_args.data())),
                            "could not execute a batch normalization primitive");
    dnnl::error::wrap_c_api(dnnl_stream_wait(s.get()), "could not wait for a batch normalization primitive");
  }
};

// Whether the run normalizes with the batch's statistics (see the file's head).
bool uses_batch(bool fed_form, bool training, bool frozen_state) { return fed_form || (training && !frozen_state); }

const float* f32(const dnnl::memory& m) { return static_cast<const float*>(m.get_data_handle()); }
float* f32w(const dnnl::memory& m) { return static_cast<float*>(m.get_data_handle()); }

// Training: Y = scale * (X - m) / sqrt(v + eps) + B with m, v the batch's mean and biased variance over N and the
// spatial axes; running = momentum * running + (1 - momentum) * (m, v * n / (n - 1)), n values per channel. Else Y from
// the running statistics, which stay.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const ir::Graph& g = ctx.graph();
  const Shape& xs = ctx.shape(n.inputs[0]);
  int64_t count = 1;  // values per channel
  for (size_t i = 0; i < xs.size(); ++i) count *= i == 1 ? 1 : xs[i];
  const int64_t C = xs[1];
  // In X's layout where it is blocked (a convolution's output), else as (N, C, S, 1).
  const auto kept = elementwise_layout(ctx, {n.inputs[0]}, n.outputs[0]);
  const auto md = ctx.layout(n.outputs[0]) ? kept : nchw(xs), cmd = dnnl_compat::plain({C});
  const float eps = epsilon_of(n);
  dnnl::memory x = ctx.input(n.inputs[0], md), y = ctx.view(n.outputs[0], md);
  dnnl::memory scale = ctx.view(n.inputs[1], cmd), shift = ctx.view(n.inputs[2], cmd);
  dnnl::memory rm = ctx.view(n.inputs[3], cmd), rv = ctx.view(n.inputs[4], cmd);
  const auto out = [&](size_t k) {
    return k < n.outputs.size() && n.outputs[k] >= 0 ? ctx.view(n.outputs[k], cmd) : dnnl::memory();
  };
  dnnl::memory bm = out(kBatchMean), bv = out(kBatchVar);
  if (!bm) bm = ctx.scratch(cmd);
  if (!bv) bv = ctx.scratch(cmd);
  const dnnl::memory om = out(1), ov = out(2), sm = out(3), sv = out(4);
  const Exec train(dnnl::batch_normalization_forward(dnnl_compat::batch_norm(ctx.engine(), md, eps, false)),
                   {{DNNL_ARG_SRC, x},
                    {DNNL_ARG_DST, y},
                    {DNNL_ARG_SCALE, scale},
                    {DNNL_ARG_SHIFT, shift},
                    {DNNL_ARG_MEAN, bm},
                    {DNNL_ARG_VARIANCE, bv}});
  const Exec infer(dnnl::batch_normalization_forward(dnnl_compat::batch_norm(ctx.engine(), md, eps, true)),
                   {{DNNL_ARG_SRC, x},
                    {DNNL_ARG_DST, y},
                    {DNNL_ARG_SCALE, scale},
                    {DNNL_ARG_SHIFT, shift},
                    {DNNL_ARG_MEAN, rm},
                    {DNNL_ARG_VARIANCE, rv}});
  const bool stored = ctx.stored(n.inputs[3]) && ctx.stored(n.inputs[4]);
  const bool fed_form = training_form(n) && !stored, frozen_state = frozen(n);
  const double momentum = momentum_of(n);
  const bool* training = ctx.training();
  const dnnl::stream stream(ctx.engine());
  const std::string label = n.label();
  const std::string source = g.source;
  Step s;
  s.host = [=]() {
    const bool batch = uses_batch(fed_form, *training, frozen_state);
    (batch ? train : infer)(stream);
    const float *M = f32(batch ? bm : rm), *V = f32(batch ? bv : rv);
    float *RM = f32w(rm), *RV = f32w(rv);
    if (batch) {
      // PyTorch updates with the unbiased variance; ONNX's function (fed statistics, not training) with the biased.
      const bool torch_rule = *training;
      if (torch_rule && count < 2)
        throw Error(source + ": " + label + ": training needs more than 1 value per channel (as PyTorch does)");
      const double unbias = torch_rule ? double(count) / double(count - 1) : 1.0;
      const bool in_place = *training && stored;
      for (int64_t c = 0; c < C; ++c) {
        const float m = float(momentum * RM[c] + (1 - momentum) * double(M[c]));
        const float v = float(momentum * RV[c] + (1 - momentum) * double(V[c]) * unbias);
        if (om) f32w(om)[c] = m;
        if (ov) f32w(ov)[c] = v;
        if (in_place) RM[c] = m, RV[c] = v;
      }
    } else {
      for (int64_t c = 0; c < C; ++c) {
        if (om) f32w(om)[c] = RM[c];
        if (ov) f32w(ov)[c] = RV[c];
      }
    }
    for (int64_t c = 0; c < C; ++c) {
      if (sm) f32w(sm)[c] = M[c];
      if (sv) f32w(sv)[c] = V[c];
    }
  };
  steps.push_back(std::move(s));
}

// Y = scale * (X - mean) / sqrt(var + eps) + B per channel c, with mean and var the running statistics; or the
// batch's (mean and biased variance over every axis but 1) for a training-form node whose statistics are fed, and for
// a node marked onnxtrain.batch_stats (the reference of a training run). Outputs 1 and 2: the running statistics,
// updated from the batch's when it uses them (the biased variance for ONNX's function, the unbiased one under
// onnxtrain.batch_stats, as PyTorch); 3 to 6: the statistics Y used.
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const RefTensor& x = *in[0];
  const int64_t N = x.shape[0], C = x.shape[1];
  const int64_t S = static_cast<int64_t>(x.data.size()) / std::max<int64_t>(N * C, 1);
  const bool marked = n.attr_i("onnxtrain.batch_stats", 0) != 0;
  const bool fed = g.values[n.inputs[3]].kind != ir::ValueKind::Parameter;
  const bool batch = marked || (training_form(n) && fed);
  const double eps = epsilon_of(n), momentum = momentum_of(n), count = double(N * S);
  std::vector<double> mean(in[3]->data), var(in[4]->data);
  if (batch)
    for (int64_t c = 0; c < C; ++c) {
      double s = 0, q = 0;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t e = 0; e < S; ++e) s += x.data[(i * C + c) * S + e];
      mean[c] = s / count;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t e = 0; e < S; ++e) q += std::pow(x.data[(i * C + c) * S + e] - mean[c], 2);
      var[c] = q / count;
    }
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t e = 0; e < S; ++e) {
        const int64_t at = (i * C + c) * S + e;
        out[0].data[at] = in[1]->data[c] * (x.data[at] - mean[c]) / std::sqrt(var[c] + eps) + in[2]->data[c];
      }
  const double unbias = marked ? count / (count - 1) : 1.0;
  for (size_t k = 1; k < out.size(); ++k)
    for (int64_t c = 0; c < C; ++c) {
      double v = k % 2 ? mean[c] : var[c];
      if ((k == 1 || k == 2) && batch)
        v = momentum * in[k + 2]->data[c] + (1 - momentum) * v * (k == 2 ? unbias : 1.0);
      else if (k == 1 || k == 2)
        v = in[k + 2]->data[c];
      out[k].data[c] = v;
    }
}

// Batch statistics m, v (biased) over n values a channel, xhat = (X - m) / sqrt(v + eps), Y = scale * xhat + B:
// dB = sum(dY), dscale = sum(dY * xhat), dX = scale / sqrt(v + eps) * (dY - mean(dY) - xhat * mean(dY * xhat)).
// With the running statistics (constants): dX = scale / sqrt(v + eps) * dY, dscale and dB as before.
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dY = b.dY(n, 0);
  if (dY < 0 || !(b.needs(n, 0) || b.needs(n, 1) || b.needs(n, 2))) return;
  const bool fed_form = training_form(n) && b.graph().values[n.inputs[3]].kind != ir::ValueKind::Parameter;
  const std::vector<int> d = b.emit_n("BatchNormalizationGrad",
                                      {dY, n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3], n.inputs[4],
                                       n.outputs[kBatchMean], n.outputs[kBatchVar]},
                                      {{"epsilon", ir::Attr::of(epsilon_of(n))},
                                       {"fed_form", ir::Attr::of(int64_t{fed_form})},
                                       {"onnxtrain.frozen_state", ir::Attr::of(int64_t{frozen(n)})}},
                                      3);
  for (size_t k = 0; k < 3; ++k)
    if (b.needs(n, k)) b.set_dX(n, k, d[k]);
}

// BatchNormalizationGrad(dY, X, scale, B, running_mean, running_var, batch_mean, batch_var) -> dX, dscale, dB,
// through oneDNN's backward (which reads B too) with the statistics the forward used in this run. dY, X, dX:
// (N, C, ...); the rest (C).
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) {
  return {in[1], Shape{in[2]}, Shape{in[2]}};
}

void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& xs = ctx.shape(n.inputs[1]);
  // In X's layout where it is blocked, dX then too.
  const auto kept = elementwise_layout(ctx, {n.inputs[1]}, n.outputs[0]);
  const auto md = ctx.layout(n.outputs[0]) ? kept : nchw(xs), cmd = dnnl_compat::plain({xs[1]});
  const float eps = n.attr_f("epsilon", kEpsilon);
  dnnl::memory dy = ctx.input(n.inputs[0], md), x = ctx.input(n.inputs[1], md), scale = ctx.view(n.inputs[2], cmd);
  dnnl::memory shift = ctx.view(n.inputs[3], cmd);
  dnnl::memory dx = ctx.view(n.outputs[0], md), dscale = ctx.view(n.outputs[1], cmd);
  dnnl::memory dshift = ctx.view(n.outputs[2], cmd);
  const auto backward = [&](bool global, int mean, int var) {
    return Exec(dnnl::batch_normalization_backward(dnnl_compat::batch_norm_backward(ctx.engine(), md, eps, global)),
                {{DNNL_ARG_SRC, x},
                 {DNNL_ARG_DIFF_DST, dy},
                 {DNNL_ARG_SCALE, scale},
                 {DNNL_ARG_SHIFT, shift},
                 {DNNL_ARG_MEAN, ctx.view(mean, cmd)},
                 {DNNL_ARG_VARIANCE, ctx.view(var, cmd)},
                 {DNNL_ARG_DIFF_SRC, dx},
                 {DNNL_ARG_DIFF_SCALE, dscale},
                 {DNNL_ARG_DIFF_SHIFT, dshift}});
  };
  const Exec batch = backward(false, n.inputs[6], n.inputs[7]), running = backward(true, n.inputs[4], n.inputs[5]);
  const bool fed_form = n.attr_i("fed_form", 0) != 0, frozen_state = frozen(n);
  const bool* training = ctx.training();
  const dnnl::stream stream(ctx.engine());
  Step s;
  s.host = [=]() { (uses_batch(fed_form, *training, frozen_state) ? batch : running)(stream); };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kBatchNormalization{
    .type = "BatchNormalization",
    .versions = {1, 6, 7, 9, 14, 15},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .grad_outputs = kBatchVar + 1,
    .state_inputs = {3, 4},
    .reference = reference,
    .layouts = true,
    // Inference (the running statistics): (N, C), (N, C, L) and (N, C, H, W); epsilon and momentum apart from their
    // defaults. The training rule is tested by Gradients.BatchNormalizationTraining* (tests/autodiff).
    .cases = {
        {.opset = 1, .shapes = {{3, 4}, {4}, {4}, {4}, {4}}, .attrs = {{"consumed_inputs", attr({0, 0, 0, 1, 1})}}},
        {.opset = 6, .shapes = {{2, 3, 5}, {3}, {3}, {3}, {3}}, .attrs = {{"is_test", attr(1)}}},
        {.opset = 7, .shapes = {{5, 3}, {3}, {3}, {3}, {3}}, .attrs = {{"epsilon", attr(1e-2f)}}},
        {.opset = 9, .shapes = {{2, 3, 4, 5}, {3}, {3}, {3}, {3}}},
        {.opset = 14, .shapes = {{7, 2}, {2}, {2}, {2}, {2}}, .attrs = {{"momentum", attr(0.8f)}}},
        {.opset = 15, .shapes = {{3, 5, 2}, {5}, {5}, {5}, {5}}}}};
extern const OpDef kBatchNormalizationGrad{.type = "BatchNormalizationGrad",
                                           .versions = {1},
                                           .check = no_check,
                                           .infer = grad_infer,
                                           .forward = grad_forward,
                                           .internal = true,
                                           .layouts = true};

}  // namespace onnxtrain::ops
