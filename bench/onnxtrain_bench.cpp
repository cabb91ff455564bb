// Times onnxtrain on one model, thread count and batch size, for bench/run.py: training steps, inference, and the
// bound, i.e. oneDNN's own matmul on the same GEMMs one training step does (plain layouts, nothing else), and the
// same GEMMs as inner products on weights kept in oneDNN's blocked layout (gemm-blocked), and, for a model with
// convolutions, the step's convolutions as oneDNN primitives on the layouts oneDNN picks plus its GEMMs (conv), and
// the CPU's f32 FMA peak (peak), which puts the bound itself in proportion. The input's shape is the model's declared
// one with a symbolic batch set to --batch; the labels are i % the output's last dim. Prints one line of key=value
// pairs. It is a measuring tool, not a test: it asserts nothing.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "onnxtrain/model.h"
#include "onnxtrain/session.h"
#include "onnxtrain/train.h"
#include "runtime/exec/dnnl_compat.h"
#include "runtime/exec/executor.h"
#include "runtime/model_impl.h"
#include "runtime/ops/op.h"
#include "tools/omp_spin.h"

using namespace onnxtrain;
using Clock = std::chrono::steady_clock;

namespace {

// Runs fn repeatedly for about `seconds`, `repeats` times; returns per-call seconds of each repeat.
template <typename F>
std::vector<double> time_it(F fn, double seconds, int repeats) {
  for (int i = 0; i < 3; ++i) fn();  // warm-up: first-touch page faults, caches
  auto t0 = Clock::now();
  int calib = 0;
  while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds / repeats / 4 || calib < 2) fn(), ++calib;
  double per = std::chrono::duration<double>(Clock::now() - t0).count() / calib;
  int n = std::max(3, static_cast<int>(seconds / repeats / per));
  std::vector<double> out;
  for (int r = 0; r < repeats; ++r) {
    auto s = Clock::now();
    for (int i = 0; i < n; ++i) fn();
    out.push_back(std::chrono::duration<double>(Clock::now() - s).count() / n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Per value id: whether training computes its gradient, i.e. it is a parameter or a node computes it from one. A
// layer whose input has none (the graph's input) needs no data gradient.
std::vector<char> has_gradient(const ir::Graph& g) {
  std::vector<char> grad(g.values.size(), 0);
  for (size_t v = 0; v < g.values.size(); ++v) grad[v] = g.values[v].kind == ir::ValueKind::Parameter;
  for (const ir::Node& n : g.nodes) {
    bool any = false;
    for (int i : n.inputs) any = any || (i >= 0 && grad[i]);
    for (int o : n.outputs)
      if (o >= 0) grad[o] = any;
  }
  return grad;
}

struct Layer {
  int64_t in, out;
  bool dx;  // the step computes its data gradient
};

// The Gemm layers of the model, in order: (in, out) from each weight (out, in) with transB = 1, or (in, out) without.
// In an MLP the first reads the graph's input (no data gradient); in a CNN it reads the convolutions' features.
std::vector<Layer> layers_of(const Model& m) {
  const ir::Graph& g = m.impl().graph;
  const std::vector<char> grad = has_gradient(g);
  std::vector<Layer> ls;
  for (const ir::Node& n : g.nodes) {
    if (n.op_type != "Gemm") continue;
    const ir::Shape& w = g.values[n.inputs[1]].shape;
    bool tB = n.attr_i("transB", 0) != 0;
    ls.push_back({tB ? w[1] : w[0], tB ? w[0] : w[1], grad[n.inputs[0]] != 0});
  }
  return ls;
}

using Prims = std::vector<std::pair<dnnl::primitive, std::unordered_map<int, dnnl::memory>>>;

dnnl::memory zeroed(const dnnl::memory::desc& md, const dnnl::engine& eng) {
  dnnl::memory m(md, eng);
  std::memset(m.get_data_handle(), 0, md.get_size());
  return m;
}

// Appends the GEMMs of one SGD training step of the Gemm layers, each as a oneDNN matmul on plain buffers:
// forward Y = X W^T, weight gradients dW = dY^T X, data gradients dX = dY W (where the layer has one). Returns their
// FLOPs per sample.
double add_gemms(const dnnl::engine& eng, const std::vector<Layer>& ls, int64_t B, Prims& prims) {
  double macs = 0;
  auto add = [&](int64_t M, int64_t K, int64_t N) {
    auto a = dnnl_compat::plain({M, K}), b = dnnl_compat::plain({K, N}), c = dnnl_compat::plain({M, N});
    auto pd = dnnl_compat::matmul(eng, a, b, c, {});
    prims.emplace_back(dnnl::matmul(pd), std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, zeroed(a, eng)},
                                                                               {DNNL_ARG_WEIGHTS, zeroed(b, eng)},
                                                                               {DNNL_ARG_DST, zeroed(c, eng)}});
    macs += double(M) * K * N / B;
  };
  for (const Layer& l : ls) {
    add(B, l.in, l.out);            // forward
    add(l.out, B, l.in);            // dW = dY^T X
    if (l.dx) add(B, l.out, l.in);  // dX = dY W
  }
  return 2 * macs;
}

// Runs prims in order as one call, timed by time_it: the median per-call seconds, and the spread into *spread.
double time_prims(Prims& prims, const dnnl::engine& eng, double seconds, int repeats, double* spread) {
  dnnl::stream s(eng);
  auto t = time_it(
      [&] {
        for (auto& [p, a] : prims) p.execute(s, a);
        s.wait();
      },
      seconds, repeats);
  *spread = (t.back() - t.front()) / t[t.size() / 2];
  return t[t.size() / 2];
}

// oneDNN's impl names have no spaces today; a key=value line must not, whatever a version prints.
std::string no_spaces(std::string s) {
  std::replace(s.begin(), s.end(), ' ', '_');
  return s;
}

// The step's convolutions and GEMMs alone: for every Conv node, oneDNN's forward_training, backward_data (not for a
// convolution of the graph's input) and backward_weights with its bias, on src, weights and dst in the layouts oneDNN
// picks (format any) and no reorder between them, then add_gemms. Shapes come from the executor's shape inference for
// input shape x. Fills the FLOPs per sample and the impl names each convolution's primitives chose ("a,b" in node
// order).
struct StepBound {
  double seconds = 0, spread = 0, flops = 0;
  std::string fwd, bwd_data, bwd_weights;
};
StepBound conv_bound(const Model& m, const ir::Shape& x_shape, double seconds, int repeats) {
  namespace dc = dnnl_compat;
  const ir::Graph& g = m.impl().graph;
  Executor ex(g);
  ex.prepare({{g.inputs[0], x_shape}});
  const std::vector<char> grad = has_gradient(g);
  const int64_t B = x_shape[0];
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  Prims prims;
  StepBound r;
  auto join = [](std::string& list, const std::string& name) { list += (list.empty() ? "" : ",") + no_spaces(name); };
  double macs = 0;
  for (const ir::Node& n : g.nodes) {
    if (n.op_type != "Conv") continue;
    const ir::Shape &x = ex.shape(n.inputs[0]), &y = ex.shape(n.outputs[0]), &w = g.values[n.inputs[1]].shape;
    if (g.values[n.inputs[1]].kind != ir::ValueKind::Parameter)
      throw std::invalid_argument(n.label() + ": --mode conv times convolutions of a weight initializer only");
    const ops::Window win = ops::window_of(g, n, x, std::vector<int64_t>(w.begin() + 2, w.end()), false);
    const int64_t group = n.attr_i("group", 1);
    ir::Shape wg = w;  // oneDNN's grouped weights: (group, M/group, C/group, k...)
    if (group > 1) {
      wg[0] = w[0] / group;
      wg.insert(wg.begin(), group);
    }
    dc::ConvShape c;
    c.strides.assign(win.strides.begin(), win.strides.end());
    for (int64_t d : win.dilations) c.dilates.push_back(d - 1);
    c.pad_l.assign(win.pad_begin.begin(), win.pad_begin.end());
    c.pad_r.assign(win.pad_end.begin(), win.pad_end.end());
    const bool bias = n.input(2) >= 0;
    const dnnl::memory::desc b = dc::plain({w[0]});
    const auto fwd =
        dc::conv_forward(eng, c, dc::any_layout(x), dc::any_layout(wg), bias ? &b : nullptr, dc::any_layout(y), true);
    dnnl::memory src = zeroed(fwd.src_desc(), eng), wei = zeroed(fwd.weights_desc(), eng),
                 dst = zeroed(fwd.dst_desc(), eng);
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
    if (bias) args[DNNL_ARG_BIAS] = zeroed(b, eng);
    prims.emplace_back(dnnl::convolution_forward(fwd), std::move(args));
    join(r.fwd, fwd.impl_info_str());
    // The backward passes share the forward's buffers (and each other's dY) where they chose the same layouts; where
    // not (backward data's weights, here), they read a buffer of their own, and the reorder a step would need into
    // it, the weights changing every step, is left out of the bound.
    auto same_or_new = [&](const dnnl::memory& have, const dnnl::memory::desc& want) {
      return have.get_desc() == want ? have : zeroed(want, eng);
    };
    double k = 1;
    for (int64_t q : win.kernel) k *= double(q);
    double out = 1;
    for (size_t i = 1; i < y.size(); ++i) out *= double(y[i]);
    const double pass = out * double(w[1]) * k;  // MACs per sample of one pass: each output, C/group x kernel
    macs += 2 * pass;
    std::optional<dnnl::memory> ddst;
    if (grad[n.inputs[0]]) {
      const auto bd = dc::conv_backward_data(eng, c, dc::any_layout(x), dc::any_layout(wg), dc::any_layout(y), fwd);
      ddst = zeroed(bd.diff_dst_desc(), eng);
      prims.emplace_back(dnnl::convolution_backward_data(bd),
                         std::unordered_map<int, dnnl::memory>{{DNNL_ARG_DIFF_DST, *ddst},
                                                               {DNNL_ARG_WEIGHTS, same_or_new(wei, bd.weights_desc())},
                                                               {DNNL_ARG_DIFF_SRC, zeroed(bd.diff_src_desc(), eng)}});
      join(r.bwd_data, bd.impl_info_str());
      macs += pass;
    }
    const auto bw = dc::conv_backward_weights(eng, c, dc::any_layout(x), dc::any_layout(wg), bias ? &b : nullptr,
                                              dc::any_layout(y), fwd);
    std::unordered_map<int, dnnl::memory> wargs = {
        {DNNL_ARG_SRC, same_or_new(src, bw.src_desc())},
        {DNNL_ARG_DIFF_DST, ddst ? same_or_new(*ddst, bw.diff_dst_desc()) : zeroed(bw.diff_dst_desc(), eng)},
        {DNNL_ARG_DIFF_WEIGHTS, zeroed(bw.diff_weights_desc(), eng)}};
    if (bias) wargs[DNNL_ARG_DIFF_BIAS] = zeroed(bw.diff_bias_desc(), eng);
    prims.emplace_back(dnnl::convolution_backward_weights(bw), std::move(wargs));
    join(r.bwd_weights, bw.impl_info_str());
  }
  if (prims.empty()) throw std::invalid_argument("the model has no Conv node: --mode gemm times its GEMMs");
  r.flops = 2 * macs + add_gemms(eng, layers_of(m), B, prims);
  r.seconds = time_prims(prims, eng, seconds, repeats, &r.spread);
  return r;
}

// The least memory a plain-SGD step can hold, in bytes: the parameters and their gradients, one batch of the input,
// and every forward node's output for that batch (activations, shapes from the executor's inference) with its
// gradient. Anything an implementation keeps beyond that (workspaces, packed weights, the allocator) is overhead.
double min_bytes(const Model& m, const ir::Shape& x_shape) {
  const ir::Graph& g = m.impl().graph;
  Executor ex(g);
  ex.prepare({{g.inputs[0], x_shape}});
  double params = 0, acts = 0;
  for (size_t v = 0; v < g.values.size(); ++v)
    if (g.values[v].kind == ir::ValueKind::Parameter) params += double(g.numel(static_cast<int>(v)));
  for (const ir::Node& n : g.nodes)
    for (int o : n.outputs)
      if (o >= 0 && g.values[o].kind == ir::ValueKind::Activation) {
        double c = 1;
        for (int64_t d : ex.shape(o)) c *= double(d);
        acts += c;
      }
  double input = 1;
  for (int64_t d : x_shape) input *= double(d);
  return 4 * (2 * params + 2 * acts + input);
}

// The model's first input with its batch: every dim the model names by a symbol (or leaves unknown) becomes B; a
// fixed first dim must be B.
ir::Shape input_shape(const Model& m, int64_t B) {
  const ModelInfo info = m.info();
  if (info.inputs.empty()) throw std::invalid_argument("the model has no input");
  const auto& dims = info.inputs[0].dims;
  ir::Shape s;
  for (const std::string& d : dims) {
    const bool digits = !d.empty() && d.size() <= 18 && d.find_first_not_of("0123456789") == std::string::npos;
    s.push_back(digits ? std::stoll(d) : B);
  }
  if (s.empty() || s[0] != B)
    throw std::invalid_argument("the model's input '" + info.inputs[0].name + "' has a fixed batch of " +
                                (s.empty() ? std::string("none") : std::to_string(s[0])) + ", not --batch " +
                                std::to_string(B));
  return s;
}

// The classes the labels cycle through: the first output's last dim.
int64_t classes_of(const Model& m) {
  const ModelInfo info = m.info();
  const std::string d = info.outputs.empty() || info.outputs[0].dims.empty() ? "" : info.outputs[0].dims.back();
  if (d.empty() || d.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument("the model's first output has no fixed last dim to take as its class count");
  return std::stoll(d);
}

// The GEMMs of one SGD training step (add_gemms), timed alone.
double gemm_bound_seconds(const std::vector<Layer>& ls, int64_t B, double seconds, int repeats, double* spread) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  Prims prims;
  add_gemms(eng, ls, B, prims);
  return time_prims(prims, eng, seconds, repeats, spread);
}

// The same GEMMs as oneDNN inner products with the weights and their gradients in oneDNN's blocked layout, kept in it
// across steps (no reorder): what training could reach by keeping its weights blocked, against gemm_bound_seconds.
double gemm_blocked_seconds(const std::vector<Layer>& ls, int64_t B, double seconds, int repeats, double* spread) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  Prims prims;
  auto zero = [&](const dnnl::memory::desc& md) { return zeroed(md, eng); };
  for (size_t l = 0; l < ls.size(); ++l) {
    auto ip = dnnl_compat::inner_product_training(eng, B, ls[l].in, ls[l].out);
    dnnl::memory x = zero(ip.forward.src_desc()), y = zero(ip.forward.dst_desc()), w = zero(ip.forward.weights_desc());
    dnnl::memory dy = zero(ip.forward.dst_desc()), dw = zero(ip.weights.diff_weights_desc());
    prims.emplace_back(
        dnnl::inner_product_forward(ip.forward),
        std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}});
    prims.emplace_back(
        dnnl::inner_product_backward_weights(ip.weights),
        std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
    if (ls[l].dx)
      prims.emplace_back(
          dnnl::inner_product_backward_data(ip.data),
          std::unordered_map<int, dnnl::memory>{
              {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, zero(ip.data.diff_src_desc())}});
  }
  return time_prims(prims, eng, seconds, repeats, spread);
}

// The f32 FMA throughput of `threads` cores, in GFLOP/s: independent chains of fused multiply-adds per thread, enough
// to cover a 4-cycle FMA latency on two ports and few enough to stay in registers (16 of AVX-512's 32, 12 of AVX2's
// 16), in 512-bit vectors (avx512 = true) or 256-bit ones. Nothing reaches more f32 FLOPs on this CPU: every GEMM,
// oneDNN's or OpenBLAS's, runs at a fraction of it.
#define FMA_CHAINS(C, V, SET, FMA, FIRST)                   \
  V acc[C];                                                 \
  for (int i = 0; i < C; ++i) acc[i] = SET(0.001f * i);     \
  const V a = SET(0.9999f), b = SET(0.0001f);               \
  for (long k = 0; k < n; ++k)                              \
    for (int i = 0; i < C; ++i) acc[i] = FMA(acc[i], a, b); \
  float sink = 0;                                           \
  for (int i = 0; i < C; ++i) sink += FIRST(acc[i]);        \
  return sink;
__attribute__((target("avx512f"))) float chains512(long n) {
  FMA_CHAINS(16, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32)
}
__attribute__((target("avx2,fma"))) float chains256(long n) {
  FMA_CHAINS(12, __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)
}
#undef FMA_CHAINS

double fma_peak_gflops(int threads, bool avx512) {
  const long n = 50'000'000;
  const double lanes = avx512 ? 16 : 8;
  double best = 0, sink = 0;
  for (int r = 0; r < 3; ++r) {
    auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += avx512 ? chains512(n) : chains256(n);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, threads * n * (avx512 ? 16 : 12) * lanes * 2 / s / 1e9);
  }
  if (sink == 12345.f) std::puts("");  // keeps the chains live
  return best;
}

// Peak resident set of this process image: VmHWM (ru_maxrss would carry over the launching process's peak
// across exec, e.g. a Python driver's).
long peak_rss_kb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::atol(line + 6);
  if (f) std::fclose(f);
  return kb;
}

}  // namespace

int main(int argc, char** argv) try {
  onnxtrain::cli::bound_openmp_spinning(argv);  // as the CLI runs (tools/omp_spin.h)
  const char* usage =
      "usage: onnxtrain_bench MODEL [--threads N] [--batch N] [--seconds S] [--repeats N] "
      "[--mode train|infer|gemm|gemm-blocked|conv|peak] [--precision f32|bf16]\n"
      "(--mode peak reads no model: MODEL may be any word; gemm and gemm-blocked time the Gemm layers alone, also in a "
      "model with convolutions; conv needs one)\n";
  if (argc < 2 || argc % 2 != 0 || argv[1][0] == '-') {
    std::fputs(usage, stderr);
    return 2;
  }
  std::string path = argv[1], mode = "train", precision = "f32";
  int threads = 1, repeats = 5;
  int64_t B = 256;
  double seconds = 2.0;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--mode")
      mode = v;
    else if (k == "--precision")
      precision = v;
    else if (k != "--threads" && k != "--batch" && k != "--seconds" && k != "--repeats")
      throw std::invalid_argument("unknown option " + k);
    else
      try {
        if (k == "--threads")
          threads = std::stoi(v);
        else if (k == "--batch")
          B = std::stoll(v);
        else if (k == "--seconds")
          seconds = std::stod(v);
        else
          repeats = std::stoi(v);
      } catch (const std::logic_error&) {
        throw std::invalid_argument(k + ": '" + v + "' is not a number");
      }
  }
  if (threads < 1 || B < 1 || repeats < 1 || !(seconds > 0) ||
      (mode != "train" && mode != "infer" && mode != "gemm" && mode != "gemm-blocked" && mode != "conv" &&
       mode != "peak"))
    throw std::invalid_argument(
        "--threads, --batch, --repeats and --seconds must be positive; --mode train, infer, gemm, gemm-blocked, conv "
        "or peak");
  if (mode == "peak") {
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !__builtin_cpu_supports("avx2")) throw std::invalid_argument("--mode peak needs AVX2 or AVX-512");
    std::printf("mode=peak isa=%s gflops=%.1f avx2_gflops=%.1f\n", avx512 ? "avx512" : "avx2",
                fma_peak_gflops(threads, avx512), fma_peak_gflops(threads, false));
    return 0;
  }
  Model model = Model::load(path);
  auto ls = layers_of(model);
  if (ls.empty() && (mode == "gemm" || mode == "gemm-blocked"))
    throw std::invalid_argument("the model has no Gemm node for --mode " + mode + " to time");
  set_threads(threads);
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  const ir::Shape x_shape = input_shape(model, B);
  const int64_t classes = classes_of(model);
  int64_t count = 1;
  for (int64_t d : x_shape) count *= d;
  Tensor x = Tensor::f32_of(x_shape, std::vector<float>(static_cast<size_t>(count)));
  for (float& v : x.f32) v = u(rng);
  Tensor y = Tensor::i64_of({B}, std::vector<int64_t>(static_cast<size_t>(B)));
  for (int64_t i = 0; i < B; ++i) y.i64[i] = i % classes;

  std::vector<double> t;
  double spread = 0;
  if (mode == "train") {
    TrainOptions o;
    o.optimizer.lr = 1e-4;  // small steps keep the weights sane over many iterations
    o.threads = threads;
    o.precision = precision_named(precision);
    TrainingSession session(model, o);
    t = time_it([&] { session.train_step(x, y); }, seconds, repeats);
    const long rss = peak_rss_kb();  // before min_bytes' executor allocates anything
    double med = t[t.size() / 2];
    std::printf("mode=train samples_per_s=%.0f spread=%.3f peak_rss_kb=%ld min_bytes=%.0f\n", double(B) / med,
                (t.back() - t.front()) / med, rss, min_bytes(model, x_shape));
    return 0;
  } else if (mode == "conv") {
    const StepBound r = conv_bound(model, x_shape, seconds, repeats);
    std::printf(
        "mode=conv samples_per_s=%.0f spread=%.3f flops_per_sample=%.0f conv_fwd=%s conv_bwd_data=%s "
        "conv_bwd_weights=%s\n",
        double(B) / r.seconds, r.spread, r.flops, r.fwd.c_str(), r.bwd_data.empty() ? "-" : r.bwd_data.c_str(),
        r.bwd_weights.c_str());
    return 0;
  } else if (mode == "infer") {
    InferenceSession session(model, SessionOptions{threads});
    std::map<std::string, Tensor> in = {{model.input_names()[0], x}};
    t = time_it([&] { session.run(in); }, seconds, repeats);
  } else {
    double med = mode == "gemm" ? gemm_bound_seconds(ls, B, seconds, repeats, &spread)
                                : gemm_blocked_seconds(ls, B, seconds, repeats, &spread);
    std::printf("mode=%s samples_per_s=%.0f spread=%.3f\n", mode.c_str(), double(B) / med, spread);
    return 0;
  }
  double med = t[t.size() / 2];
  std::printf("mode=%s samples_per_s=%.0f spread=%.3f peak_rss_kb=%ld\n", mode.c_str(), double(B) / med,
              (t.back() - t.front()) / med, peak_rss_kb());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "onnxtrain_bench: %s\n", e.what());
  return 1;
}
