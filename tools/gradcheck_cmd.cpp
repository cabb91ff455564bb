// `onnxtrain gradcheck`: loads the model and the first --samples samples of --data, runs gradcheck() and prints one
// line per parameter, the kinks that excluded elements, how the relative error is taken, and a verdict. The checking
// itself is in the library (runtime/check/).
#include "tools/gradcheck_cmd.h"

#include <algorithm>
#include <cstdio>

#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "tools/cli_checks.h"
#include "tools/cli_common.h"

namespace onnxtrain::cli {
namespace {

// The first n rows of t, of any dtype.
Tensor head(const Tensor& t, int64_t n) {
  Tensor h = t;
  const int64_t row = t.shape[0] ? t.numel() / t.shape[0] : 0;
  h.shape[0] = n;
  if (t.dtype == DType::Int64)
    h.i64.resize(static_cast<size_t>(n * row));
  else if (t.dtype == DType::Float32)
    h.f32.resize(static_cast<size_t>(n * row));
  else
    h.bytes.resize(static_cast<size_t>(n * row) * dtype_size(t.dtype));
  return h;
}

// A flat index as "[i,j]" in shape.
std::string index_str(int64_t flat, const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t d = shape.size(); d-- > 0;) {
    s = std::to_string(flat % shape[d]) + (s.empty() ? "" : "," + s);
    flat /= shape[d];
  }
  return "[" + s + "]";
}

std::string sci(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

}  // namespace

CLI::App* add_gradcheck_command(CLI::App& app, GradcheckArgs& a) {
  auto* c = app.add_subcommand("gradcheck",
                               "Check every parameter's gradient against central finite differences in "
                               "double precision, on a batch of the data; exit 1 if one fails");
  GradcheckOptions& o = a.options;
  c->add_option("MODEL", a.model, "The .onnx file")->required();
  c->add_option("--data", a.data, "Data: .npz (x, y), an idx3 file, or fashion-mnist (its training split)")->required();
  c->add_option("--samples", a.samples, "The batch: the data's first N samples (default 8)")->check(cli::kPositive);
  c->add_option("--eps", o.eps, "Finite-difference step (default 1e-6)")->check(cli::kPositive);
  c->add_option("--elements", o.elements,
                "Elements checked per parameter, at random plus the largest gradient; 0: all "
                "(default 30)")
      ->check(cli::kNonNegative);
  c->add_option("--tolerance", o.tolerance, "Largest relative error that passes (default 1e-3)")->check(cli::kPositive);
  c->add_option("--seed", o.seed, "Which elements are picked (default 0)")->check(cli::kSeed);
  c->add_option("--loss", a.loss, "cross-entropy | nll | bce | mse (default from the head, as train)")
      ->check(CLI::IsMember({"cross-entropy", "nll", "bce", "mse"}));
  c->add_option("--output", o.output, "The output the loss reads, for a model with several (default: its only one)");
  c->add_option("--input-key", a.x_key, "The .npz key of the features (default: the input's name, else x)");
  c->add_option("--target-key", a.target_key, "The .npz key of the labels or targets (default y)");
  c->add_option("--threads", o.threads, "Threads for the kernels (default: the machine's cores)")->check(cli::kThreads);
  return c;
}

int cmd_gradcheck(const GradcheckArgs& a) {
  Model model = Model::load(a.model);
  GradcheckOptions o = a.options;
  o.loss = loss_named(a.loss);
  TrainOptions to;  // a session only to learn which input --output depends on (gradcheck makes its own)
  to.loss = o.loss;
  to.output = o.output;
  to.threads = o.threads;
  TrainingSession probe(model, to);
  // A .csv's target is its last column, typed as the loss reads it (as train's).
  Dataset d = load_data(model, probe.inputs(), a.data, Split::Train, a.x_key, LabelArgs{a.target_key, "", ""}, true);
  fit_targets(d, probe.class_labels());
  check_trainable(d, 0);  // label ranges are checked against the model's classes by the session
  const int64_t n = std::min(a.samples, d.x.shape[0]);
  std::map<std::string, Tensor> inputs = {{d.x_name, head(d.x, n)}};
  for (const auto& [name, t] : d.more) inputs[name] = head(t, n);
  const Tensor y = head(d.y, n);
  const GradcheckReport r = gradcheck(model, inputs, y, o);

  std::printf("gradcheck %s on %s: %lld samples, %s loss, eps %g, tolerance %g, %s\n", a.model.c_str(), a.data.c_str(),
              static_cast<long long>(n), r.loss.c_str(), o.eps, o.tolerance,
              o.elements == 0 ? "every element"
                              : (std::to_string(o.elements) + " elements per parameter (seed " +
                                 std::to_string(o.seed) + ") and the largest gradient")
                                    .c_str());
  std::printf(
      "analytic: onnxtrain's float32 kernels and loss, as train steps; numeric: central differences of a "
      "double-precision reference forward\n");
  if (r.dropout_nodes > 0)
    std::printf("note: %lld Dropout node%s run%s as the identity on both sides\n",
                static_cast<long long>(r.dropout_nodes), r.dropout_nodes == 1 ? "" : "s",
                r.dropout_nodes == 1 ? "s" : "");
  std::printf("loss: %.9g (onnxtrain) vs %.9g (reference)%s\n", r.loss_onnxtrain, r.loss_reference,
              r.loss_agrees ? "" : "  FAIL: the forward passes disagree");

  size_t width = 9;
  for (const ParamCheck& p : r.params) width = std::max(width, p.name.size());
  std::printf("%-*s  %-14s %8s %9s %14s  %s\n", static_cast<int>(width), "parameter", "shape", "checked", "excluded",
              "max rel error", "result");
  int64_t checked = 0, excluded = 0;
  std::vector<std::string> failed;
  for (const ParamCheck& p : r.params) {
    std::printf("%-*s  %-14s %8lld %9lld %14s  %s%s\n", static_cast<int>(width), p.name.c_str(),
                shape_str(p.shape).c_str(), static_cast<long long>(p.checked), static_cast<long long>(p.excluded),
                p.worst >= 0 ? sci(p.max_rel_error).c_str() : "-",
                !p.pass         ? "FAIL"
                : p.checked > 0 ? "PASS"
                                : "SKIP",
                p.has_gradient ? "" : "  (training computes no gradient for it)");
    checked += p.checked;
    excluded += p.excluded;
    if (!p.pass)
      failed.push_back(p.name + " at " + index_str(p.worst, p.shape) + ": analytic " + sci(p.analytic) + ", numeric " +
                       sci(p.numeric));
  }
  for (const ParamCheck& p : r.params)
    if (p.excluded > 0)
      std::printf(
          "  %s: %lld of %lld elements excluded: a pre-activation within eps (or float32 rounding) of the kink "
          "of node %s\n",
          p.name.c_str(), static_cast<long long>(p.excluded), static_cast<long long>(p.excluded + p.checked),
          join(p.kink_nodes).c_str());
  std::printf(
      "relative error = |analytic - numeric| / max(|analytic|, |numeric|, floor), floor = %g x the "
      "parameter's largest |analytic|, at least atol / tolerance, atol = %.3g (float32 rounding at the largest "
      "gradient's scale, and the difference quotient's)\n",
      o.floor_fraction, r.atol);
  if (r.pass()) {
    std::printf("PASS: all %zu parameters (%lld elements checked, %lld excluded at kinks)\n", r.params.size(),
                static_cast<long long>(checked), static_cast<long long>(excluded));
    return 0;
  }
  if (failed.empty())
    std::printf(
        "FAIL: the loss differs between onnxtrain and the reference, so the forward kernels or the reference "
        "are wrong\n");
  else
    std::printf("FAIL: %zu of %zu parameters: %s\n", failed.size(), r.params.size(), join(failed).c_str());
  return 1;
}

}  // namespace onnxtrain::cli
