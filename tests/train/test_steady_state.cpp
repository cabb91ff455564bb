// A training step in steady state creates no primitive and allocates nothing on the heap. Every operator new in the
// process is counted while steps run on batch shapes seen before, and attributed by a stack walk: oneDNN 2.6's own
// dnnl_primitive_execute builds a hash map of its arguments on each call, and its jit reorder allocates on the
// OpenMP workers (inside the library, unavoidable for any caller), so those are counted apart; everything else must
// be zero.
#include <dlfcn.h>
#include <execinfo.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "onnxtrain/model.h"
#include "onnxtrain/train.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_ours{0}, g_onednn{0};
thread_local bool t_inside = false;

// Whether an allocation is oneDNN's own, from the stack above the operator new at frames[0]: made inside
// dnnl_primitive_execute, or on one of oneDNN's OpenMP workers running a primitive's parallel region (its jit reorder
// allocates there), with no frame of this program on the stack. A primitive created by our code in the step still
// counts as ours: our frames are on its stack.
bool is_onednns(void* const* frames, int n) {
  Dl_info self;
  dladdr(frames[0], &self);
  bool in_onednn = false, in_ours = false;
  for (int i = 0; i < n; ++i) {
    Dl_info info;
    if (!dladdr(frames[i], &info)) continue;
    if (info.dli_sname && std::strcmp(info.dli_sname, "dnnl_primitive_execute") == 0) return true;
    if (info.dli_fname && std::strstr(info.dli_fname, "libdnnl")) in_onednn = true;
    if (i > 0 && info.dli_fname && self.dli_fname && std::strcmp(info.dli_fname, self.dli_fname) == 0) in_ours = true;
  }
  return in_onednn && !in_ours;
}

// Counts one allocation; inlined, so that frames[0] is the operator new that allocates.
__attribute__((always_inline)) inline void count_allocation() {
  if (g_counting.load(std::memory_order_relaxed) && !t_inside) {
    t_inside = true;
    void* frames[48];
    int n = backtrace(frames, 48);
    (is_onednns(frames, n) ? g_onednn : g_ours).fetch_add(1);
    t_inside = false;
  }
}

}  // namespace

void* operator new(size_t n) {
  count_allocation();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  count_allocation();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// GCC sees free() beside the new-expressions it inlines these into and warns; the replacements pair malloc and free.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

using namespace onnxtrain;

TEST(SteadyState, TrainingStepsAllocateNothingOfTheirOwn) {
  void* warm[4];
  backtrace(warm, 4);  // the first backtrace() loads its unwinder; do that before counting
  Model model = Model::load(std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx");
  // Plain SGD runs its update inside the backward pass (fused), SGD with momentum and Adam as a pass of their own.
  for (auto [opt, momentum] : {std::pair{"sgd", 0.0}, std::pair{"sgd", 0.9}, std::pair{"adam", 0.0}}) {
    TrainOptions options;
    options.optimizer.kind = optimizer_named(opt);
    options.optimizer.momentum = momentum;
    TrainingSession session(model, options);
    Tensor x = Tensor::f32_of({32, 784}, std::vector<float>(32 * 784, 0.5f));
    Tensor y = Tensor::i64_of({32}, std::vector<int64_t>(32, 3));
    Tensor x_last = Tensor::f32_of({7, 784}, std::vector<float>(7 * 784, 0.25f));
    Tensor y_last = Tensor::i64_of({7}, std::vector<int64_t>(7, 1));
    for (int i = 0; i < 2; ++i) {  // both batch shapes compile once
      session.train_step(x, y);
      session.train_step(x_last, y_last);
    }
    g_ours = 0;
    g_onednn = 0;
    int64_t correct = 0;
    g_counting = true;
    for (int i = 0; i < 5; ++i) {
      session.train_step(x, y, &correct);
      session.train_step(x_last, y_last, &correct);
    }
    g_counting = false;
    EXPECT_EQ(g_ours.load(), 0) << opt << ": heap allocations outside oneDNN's execute in steady-state steps";
    // The counter sees allocations at all: oneDNN's own are there.
    EXPECT_GT(g_onednn.load(), 0) << "the allocation counter saw nothing; the test is not measuring";
  }
}

// The same for a step in parts (gradient accumulation) with clipping and cross-entropy's options: the sum of the
// parts' gradients, the norm and the scaling use buffers made before the steady state.
TEST(SteadyState, AccumulatedClippedStepsAllocateNothingOfTheirOwn) {
  Model model = Model::load(std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx");
  TrainOptions options;
  options.optimizer.kind = Optimizer::Adam;
  options.clip_grad_norm = 0.5;
  options.label_smoothing = 0.1;
  options.class_weights = std::vector<float>(10, 1.5f);
  TrainingSession session(model, options);
  const std::string input = session.input();
  std::map<std::string, Tensor> x = {{input, Tensor::f32_of({8, 784}, std::vector<float>(8 * 784, 0.5f))}};
  Tensor y = Tensor::i64_of({8}, {3, 1, -100, 4, 3, 9, 0, -100});
  const auto step = [&]() {
    session.begin_step(3, 3 * session.loss_normalizer(y));
    for (int k = 0; k < 3; ++k) session.accumulate_step(x, y);
  };
  step(), step();
  g_ours = 0;
  g_onednn = 0;
  g_counting = true;
  for (int i = 0; i < 5; ++i) step();
  g_counting = false;
  EXPECT_EQ(g_ours.load(), 0) << "heap allocations outside oneDNN's execute in steady-state accumulated steps";
  EXPECT_GT(g_onednn.load(), 0) << "the allocation counter saw nothing; the test is not measuring";
  EXPECT_TRUE(std::isfinite(session.total_norm()));
}
