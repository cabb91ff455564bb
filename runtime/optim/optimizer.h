// Optimizers over flat buffers: parameters, gradients and every moment share one layout, so a step is one pass over
// the trainable ranges, split across the threads. The update rules are torch.optim's (PyTorch 1.13), formula above
// each.
#pragma once
#include <omp.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "onnxtrain/train.h"

namespace onnxtrain::optim {

// On an update function: compiled for AVX-512, AVX2 and the baseline, the widest the CPU runs chosen at load (the
// build targets baseline x86-64, 4 floats per vector). The optimizer files are built with -ffp-contract=off, so no
// variant fuses a multiply and an add: every one gives the same bits as torch's formula.
#if defined(__x86_64__) && !defined(ONNXTRAIN_NO_CLONES)
#define ONNXTRAIN_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ONNXTRAIN_VECTOR_CLONES
#endif

struct Range {
  size_t offset, count;  // a trainable parameter's place in the flat buffers
};

// While alive, this thread treats subnormal floats as zero, in and out (x86's MXCSR DAZ and FTZ); then the mode
// before is restored. For the update passes: a moment whose gradient has stopped (a dead unit) decays geometrically
// (Adam's m by 0.9 a step) and would turn subnormal after some 800 steps, where every operation on it costs a
// microcode assist of some hundred cycles, which slows long runs markedly (docs/performance.md). A subnormal moment
// moves no normal weight: step * m / denom with |m| < 2^-126 lies below the last bit of any weight above about 2^-100.
// (Subnormal weights, below 2^-126, become 0.)
class SubnormalsAsZero {
 public:
#if defined(__x86_64__)
  SubnormalsAsZero() : csr_(_mm_getcsr()) { _mm_setcsr(csr_ | kDaz | kFtz); }
  ~SubnormalsAsZero() { _mm_setcsr(csr_); }

 private:
  static constexpr unsigned kDaz = 0x0040, kFtz = 0x8000;
  unsigned csr_;
#endif
};

// Runs body(offset, count) over every range, in one OpenMP parallel region: each thread takes a contiguous share of
// each range (a multiple of 16 floats, one cache line), with subnormals as zero. An update is elementwise, so it gives
// the same bits on any split and any thread count; the split only spreads the pass, which is bound by memory
// bandwidth, over the cores.
template <typename Body>
void for_each_share(const std::vector<Range>& ranges, Body body) {
  size_t total = 0;
  for (const Range& r : ranges) total += r.count;
  const int threads = total < 16384 ? 1 : omp_get_max_threads();  // below 64 KiB a fork costs more than it saves
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    SubnormalsAsZero flush;
    const size_t t = static_cast<size_t>(omp_get_thread_num()), n = static_cast<size_t>(omp_get_num_threads());
    for (const Range& r : ranges) {
      const size_t share = ((r.count + n - 1) / n + 15) & ~size_t(15);
      const size_t begin = std::min(r.count, t * share), end = std::min(r.count, begin + share);
      if (begin < end) body(r.offset + begin, end - begin);
    }
  }
}

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every range: params -= f(grads, state).
  virtual void step(float* params, const float* grads, const std::vector<Range>& ranges) = 0;
  // For checkpoints: the state buffers, laid out as the parameters and named as torch.optim's state_dict names them
  // (exp_avg, exp_avg_sq, momentum_buffer), and the steps taken. Restoring both continues bitwise.
  virtual std::vector<std::pair<std::string, std::vector<float>*>> buffers() = 0;
  virtual void set_steps(int64_t steps) = 0;
  // For an update p = p + s * grad with no state, s (plain SGD: -lr), which the backward pass may then apply itself
  // (Executor::fuse_updates); 0 for any other rule.
  virtual float fused_scale() const { return 0.f; }
  // From the next step on, another learning rate, and another momentum (SGD's momentum, Adam's beta1), as a
  // scheduler writes them into torch's param_group between steps. The state buffers stay.
  virtual void set_lr(double lr) = 0;
  virtual void set_momentum(double momentum) = 0;
};

// size is the flat buffers' length. Throws Error naming the option for an invalid configuration.
std::unique_ptr<Optimizer> make(const OptimizerConfig& config, size_t size);

std::unique_ptr<Optimizer> make_sgd(const OptimizerConfig& c, size_t size);
std::unique_ptr<Optimizer> make_adam(const OptimizerConfig& c, size_t size, bool decoupled);

}  // namespace onnxtrain::optim
