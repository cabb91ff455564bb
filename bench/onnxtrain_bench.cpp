// Times onnxtrain on one model, thread count and batch size, for bench/run.py: training steps, inference, and the
// bound, i.e. oneDNN's own matmul on the same GEMMs one training step does (plain layouts, nothing else), and the
// same GEMMs as inner products on weights kept in oneDNN's blocked layout (gemm-blocked), and the CPU's f32 FMA peak
// (peak), which puts the bound itself in proportion. Prints one line of key=value pairs. It is a measuring tool, not
// a test: it asserts nothing.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
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

struct Layer {
  int64_t in, out;
};

// The Gemm layers of an MLP, in order: (in, out) from each weight (out, in) with transB = 1, or (in, out) without.
std::vector<Layer> layers_of(const Model& m) {
  const ir::Graph& g = m.impl().graph;
  std::vector<Layer> ls;
  for (const ir::Node& n : g.nodes) {
    if (n.op_type != "Gemm") continue;
    const ir::Shape& w = g.values[n.inputs[1]].shape;
    bool tB = n.attr_i("transB", 0) != 0;
    ls.push_back({tB ? w[1] : w[0], tB ? w[0] : w[1]});
  }
  return ls;
}

// The GEMMs of one SGD training step of the MLP, each as a oneDNN matmul on plain buffers:
// forward Y = X W^T, weight gradients dW = dY^T X, data gradients dX = dY W (not for the first layer).
double gemm_bound_seconds(const std::vector<Layer>& ls, int64_t B, double seconds, int repeats, double* spread) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  std::vector<std::pair<dnnl::matmul, std::unordered_map<int, dnnl::memory>>> prims;
  auto add = [&](int64_t M, int64_t K, int64_t N) {
    auto a = dnnl_compat::plain({M, K}), b = dnnl_compat::plain({K, N}), c = dnnl_compat::plain({M, N});
    auto pd = dnnl_compat::matmul(eng, a, b, c, {});
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, dnnl::memory(a, eng)},
                                                  {DNNL_ARG_WEIGHTS, dnnl::memory(b, eng)},
                                                  {DNNL_ARG_DST, dnnl::memory(c, eng)}};
    for (auto& [k, m] : args) std::memset(m.get_data_handle(), 0, m.get_desc().get_size());
    prims.emplace_back(dnnl::matmul(pd), args);
  };
  for (size_t l = 0; l < ls.size(); ++l) {
    add(B, ls[l].in, ls[l].out);             // forward
    add(ls[l].out, B, ls[l].in);             // dW = dY^T X
    if (l > 0) add(B, ls[l].out, ls[l].in);  // dX = dY W
  }
  auto t = time_it(
      [&] {
        for (auto& [p, a] : prims) p.execute(s, a);
        s.wait();
      },
      seconds, repeats);
  *spread = (t.back() - t.front()) / t[t.size() / 2];
  return t[t.size() / 2];
}

// The same GEMMs as oneDNN inner products with the weights and their gradients in oneDNN's blocked layout, kept in it
// across steps (no reorder): what training could reach by keeping its weights blocked, against gemm_bound_seconds.
double gemm_blocked_seconds(const std::vector<Layer>& ls, int64_t B, double seconds, int repeats, double* spread) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  std::vector<std::pair<dnnl::primitive, std::unordered_map<int, dnnl::memory>>> prims;
  auto zeroed = [&](const dnnl::memory::desc& md) {
    dnnl::memory m(md, eng);
    std::memset(m.get_data_handle(), 0, md.get_size());
    return m;
  };
  for (size_t l = 0; l < ls.size(); ++l) {
    auto ip = dnnl_compat::inner_product_training(eng, B, ls[l].in, ls[l].out);
    dnnl::memory x = zeroed(ip.forward.src_desc()), y = zeroed(ip.forward.dst_desc()),
                 w = zeroed(ip.forward.weights_desc());
    dnnl::memory dy = zeroed(ip.forward.dst_desc()), dw = zeroed(ip.weights.diff_weights_desc());
    prims.emplace_back(
        dnnl::inner_product_forward(ip.forward),
        std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, y}});
    prims.emplace_back(
        dnnl::inner_product_backward_weights(ip.weights),
        std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
    if (l > 0)
      prims.emplace_back(
          dnnl::inner_product_backward_data(ip.data),
          std::unordered_map<int, dnnl::memory>{
              {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, zeroed(ip.data.diff_src_desc())}});
  }
  auto t = time_it(
      [&] {
        for (auto& [p, a] : prims) p.execute(s, a);
        s.wait();
      },
      seconds, repeats);
  *spread = (t.back() - t.front()) / t[t.size() / 2];
  return t[t.size() / 2];
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
      "[--mode train|infer|gemm|gemm-blocked|peak] [--precision f32|bf16]\n"
      "(--mode peak reads no model: MODEL may be any word)\n";
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
      (mode != "train" && mode != "infer" && mode != "gemm" && mode != "gemm-blocked" && mode != "peak"))
    throw std::invalid_argument(
        "--threads, --batch, --repeats and --seconds must be positive; --mode train, infer, gemm, gemm-blocked or "
        "peak");
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
  set_threads(threads);
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  Tensor x = Tensor::f32_of({B, ls.front().in}, std::vector<float>(static_cast<size_t>(B * ls.front().in)));
  for (float& v : x.f32) v = u(rng);
  Tensor y = Tensor::i64_of({B}, std::vector<int64_t>(static_cast<size_t>(B)));
  for (int64_t i = 0; i < B; ++i) y.i64[i] = i % ls.back().out;

  std::vector<double> t;
  double spread = 0;
  if (mode == "train") {
    TrainOptions o;
    o.optimizer.lr = 1e-4;  // small steps keep the weights sane over many iterations
    o.threads = threads;
    o.precision = precision_named(precision);
    TrainingSession session(model, o);
    t = time_it([&] { session.train_step(x, y); }, seconds, repeats);
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
