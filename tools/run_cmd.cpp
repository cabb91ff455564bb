// `onnxtrain run`'s work without its files: batches through an InferenceSession, outputs gathered along the batch
// axis in their own dtypes, accuracy on labels.
#include "tools/run_cmd.h"

#include <algorithm>

#include "onnxtrain/error.h"
#include "onnxtrain/session.h"
#include "tools/cli_common.h"

namespace onnxtrain::cli {

namespace {

// Rows [begin, end) of x: (N, ...) of any dtype.
Tensor slice_rows(const Tensor& x, int64_t begin, int64_t end) {
  const int64_t row = x.numel() / x.shape[0];
  Tensor t;
  t.dtype = x.dtype;
  t.shape = x.shape;
  t.shape[0] = end - begin;
  if (x.dtype == DType::Float32)
    t.f32.assign(x.f32.begin() + begin * row, x.f32.begin() + end * row);
  else if (x.dtype == DType::Int64)
    t.i64.assign(x.i64.begin() + begin * row, x.i64.begin() + end * row);
  else
    t.bytes.assign(x.bytes.begin() + begin * row * static_cast<int64_t>(dtype_size(x.dtype)),
                   x.bytes.begin() + end * row * static_cast<int64_t>(dtype_size(x.dtype)));
  return t;
}

// t is what a batch of m samples gives for an output that is batch-major: dim 0 is m, and dtype and other dims are
// those of ref (the output on an earlier batch), when there is one.
bool follows_batch(const Tensor& t, int64_t m, const Tensor* ref) {
  if (t.shape.empty() || t.shape[0] != m) return false;
  return !ref || (t.dtype == ref->dtype && t.shape.size() == ref->shape.size() &&
                  std::equal(t.shape.begin() + 1, t.shape.end(), ref->shape.begin() + 1));
}

// Appends t's rows to all's (same dtype and per-sample dims).
void append_rows(Tensor& all, const Tensor& t) {
  all.shape[0] += t.shape[0];
  if (all.dtype == DType::Float32)
    all.f32.insert(all.f32.end(), t.f32.begin(), t.f32.end());
  else if (all.dtype == DType::Int64)
    all.i64.insert(all.i64.end(), t.i64.begin(), t.i64.end());
  else
    all.bytes.insert(all.bytes.end(), t.bytes.begin(), t.bytes.end());
}

}  // namespace

std::vector<ModelInfo::Port> run_inputs(const Model& model) {
  const ModelInfo info = model.info();
  if (info.inputs.empty()) throw Error(model.path() + ": the model has no input for --data to feed");
  for (const ModelInfo::Port& p : info.inputs)
    if (p.kind != Value::Kind::Tensor)
      throw Error(model.path() + ": input '" + p.name + "' is " + p.dtype +
                  "; run feeds tensors from --data (InferenceSession::run_values takes sequences and optionals)");
  return info.inputs;
}

RunResult run_dataset(Model& model, Dataset d, int64_t batch, int threads) {
  const std::vector<ModelInfo::Port> ins = run_inputs(model);
  const ModelInfo::Port& in = ins[0];
  if (d.x_name.empty()) {  // features loaded for no input in particular (load_dataset): the model's only one's
    if (ins.size() != 1)
      throw Error(model.path() + ": the model has " + std::to_string(ins.size()) + " inputs; " + d.source +
                  " holds the features of one");
    d.x_name = in.name;
    fit_features(d, in.name, sample_dims(in));
  }
  if (d.x.shape.empty() || d.x.shape[0] == 0)
    throw Error(d.source + ": the data set is empty");  // as train and eval say; no outputs to write
  const int64_t n = d.x.shape[0];
  const int64_t fixed = in.fixed_batch();
  if (fixed) batch = fixed;  // the only size it runs; outputs are the same
  InferenceSession session(model, SessionOptions{threads});
  auto run_rows = [&](int64_t begin, int64_t end) {
    std::map<std::string, Tensor> feeds = {{d.x_name, slice_rows(d.x, begin, end)}};
    for (const auto& [name, t] : d.more) feeds[name] = slice_rows(t, begin, end);
    return session.run(feeds);
  };
  auto refuse = [&](const std::string& name, const std::vector<int64_t>& shape, int64_t m) {
    std::string how =
        fixed ? "the model's input fixes the batch at " + std::to_string(fixed) + ", so " + std::to_string(n) +
                    " samples cannot run in one batch"
              : "use --batch-size N (>= the " + std::to_string(n) + " samples) to run the data in one batch";
    return Error(model.path() + ": output '" + name + "' is " + shape_str(shape) + " for a batch of " +
                 std::to_string(m) + ": run concatenates outputs along the batch axis (dim 0); " + how);
  };

  RunResult r;
  r.samples = n;
  if (n <= batch) {
    r.outputs = run_rows(0, n);  // one batch: every output as the model gives it, whatever its layout
  } else {
    // Batches all of one size cannot tell an output whose dim 0 is the batch from one whose dim 0 only equals it:
    // (3, N) in batches of 3, a constant (4, 2) in batches of 4. A pass of another size can, and run first, it lets
    // such an output be refused after the first batch rather than after the whole data set.
    const int64_t probe_m = batch == 1 ? 2 : 1;
    std::map<std::string, Tensor> probe;
    if (!fixed) {
      try {
        probe = run_rows(0, probe_m);
      } catch (const Error& e) {
        throw Error(model.path() +
                    ": run concatenates outputs along the batch axis (dim 0) and checks that they follow "
                    "the batch size, but the model does not run on a batch of " +
                    std::to_string(probe_m) + " (" + e.what() + "); use --batch-size N (>= the " + std::to_string(n) +
                    " samples) to run the data in one batch");
      }
    }
    for (int64_t b = 0; b < n; b += batch) {
      const int64_t m = std::min(n, b + batch) - b;
      for (auto& [name, t] : run_rows(b, b + m)) {
        auto it = r.outputs.find(name);
        if (!follows_batch(t, m, it == r.outputs.end() ? nullptr : &it->second)) throw refuse(name, t.shape, m);
        if (it != r.outputs.end()) {
          append_rows(it->second, t);
          continue;
        }
        auto p = probe.find(name);
        if (p != probe.end() && !follows_batch(p->second, probe_m, &t)) throw refuse(name, p->second.shape, probe_m);
        r.outputs.emplace(name, std::move(t));
      }
      probe.clear();
    }
  }

  // With labels and a float32 (N, C) first output, say how the model does: the main job's quick check. Any other
  // layout ((1, N*C) after Flatten(axis=0), (C, N)) has no row per sample to take the argmax of.
  const std::vector<std::string> names = model.output_names();
  auto y0 = names.empty() ? r.outputs.end() : r.outputs.find(names[0]);
  if (d.has_y() && d.y.dtype == DType::Int64 && d.y.shape[0] == n && d.y.numel() == n && y0 != r.outputs.end() &&
      y0->second.dtype == DType::Float32 && y0->second.shape.size() == 2 && y0->second.shape[0] == n &&
      y0->second.shape[1] > 0) {
    const int64_t c = y0->second.shape[1];
    r.has_accuracy = true;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = y0->second.f32.data() + i * c;
      r.right += (std::max_element(row, row + c) - row) == d.y.i64[static_cast<size_t>(i)];
    }
  }
  return r;
}

}  // namespace onnxtrain::cli
