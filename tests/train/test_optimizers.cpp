// The optimizers' pass over the flat buffers is split across OpenMP threads (optim::for_each_share). Checked here
// against a naive loop of torch.optim's formulas: every element of every range is updated exactly once, elements
// outside the ranges are not touched, and 1 and 2 threads give the same bits.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "runtime/optim/optimizer.h"

using namespace onnxtrain;

namespace {

// Ranges of odd sizes, with gaps between them (frozen parameters), large enough in all to be split.
const std::vector<optim::Range> kRanges = {{0, 20011}, {20011, 7}, {20100, 1}, {20200, 33333}};
const size_t kSize = 53600;

struct State {
  std::vector<float> p, g;
};

State random_state() {
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.f, 1.f);
  State s{std::vector<float>(kSize), std::vector<float>(kSize)};
  for (size_t i = 0; i < kSize; ++i) s.p[i] = n(rng), s.g[i] = n(rng);
  return s;
}

// torch.optim.SGD, one element at a time: buf = g at first, then momentum * buf + (1 - dampening) * g.
void naive_sgd(const OptimizerConfig& c, int steps, State& s) {
  std::vector<float> buf(kSize);
  for (int t = 0; t < steps; ++t)
    for (const optim::Range& r : kRanges)
      for (size_t i = r.offset; i < r.offset + r.count; ++i) {
        float g = s.g[i] + float(c.weight_decay) * s.p[i];
        buf[i] = t == 0 ? g : float(c.momentum) * buf[i] + float(1.0 - c.dampening) * g;
        g = c.nesterov ? g + float(c.momentum) * buf[i] : buf[i];
        s.p[i] = s.p[i] - float(c.lr) * g;
      }
}

// torch.optim.AdamW, one element at a time, with torch's bias correction.
void naive_adamw(const OptimizerConfig& c, int steps, State& s) {
  std::vector<float> m(kSize), v(kSize);
  for (int t = 1; t <= steps; ++t)
    for (const optim::Range& r : kRanges)
      for (size_t i = r.offset; i < r.offset + r.count; ++i) {
        s.p[i] = s.p[i] * float(1.0 - c.lr * c.weight_decay);
        m[i] = m[i] * float(c.beta1) + float(1.0 - c.beta1) * s.g[i];
        v[i] = v[i] * float(c.beta2) + float(1.0 - c.beta2) * s.g[i] * s.g[i];
        float denom = std::sqrt(v[i]) / float(std::sqrt(1.0 - std::pow(c.beta2, t))) + float(c.eps);
        s.p[i] = s.p[i] - float(c.lr / (1.0 - std::pow(c.beta1, t))) * (m[i] / denom);
      }
}

State run(const OptimizerConfig& c, int steps, int threads) {
  State s = random_state();
  auto opt = optim::make(c, kSize);
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  for (int t = 0; t < steps; ++t) opt->step(s.p.data(), s.g.data(), kRanges);
  omp_set_num_threads(before);
  return s;
}

void expect_matches(const State& want, const State& got, const char* what) {
  for (size_t i = 0; i < kSize; ++i)
    ASSERT_NEAR(got.p[i], want.p[i], 1e-6f * (1.f + std::fabs(want.p[i]))) << what << ": element " << i;
}

}  // namespace

TEST(Optimizers, SgdSplitAcrossThreadsUpdatesEachElementOnce) {
  for (bool nesterov : {false, true}) {
    OptimizerConfig c;
    c.kind = Optimizer::Sgd;
    c.lr = 0.1, c.momentum = 0.9, c.weight_decay = 0.01;
    c.nesterov = nesterov, c.dampening = nesterov ? 0.0 : 0.1;  // torch allows Nesterov only without dampening
    State want = random_state();
    naive_sgd(c, 3, want);
    const State one = run(c, 3, 1), two = run(c, 3, 2);
    expect_matches(want, one, nesterov ? "nesterov, 1 thread" : "dampening, 1 thread");
    expect_matches(want, two, nesterov ? "nesterov, 2 threads" : "dampening, 2 threads");
    EXPECT_EQ(one.p, two.p) << "1 and 2 threads differ";
  }
}

TEST(Optimizers, AdamwSplitAcrossThreadsUpdatesEachElementOnce) {
  OptimizerConfig c;
  c.kind = Optimizer::AdamW;
  c.lr = 0.01, c.weight_decay = 0.1;
  State want = random_state();
  naive_adamw(c, 3, want);
  const State one = run(c, 3, 1), two = run(c, 3, 2);
  expect_matches(want, one, "1 thread");
  expect_matches(want, two, "2 threads");
  EXPECT_EQ(one.p, two.p) << "1 and 2 threads differ";
}

// A gradient that stops (a unit that dies) leaves its moments decaying geometrically: Adam's m and SGD's momentum
// buffer by 0.9 a step, subnormal after some 800 steps. The update passes treat subnormals as zero (they cost a
// microcode assist each): checked here against torch's formula run without that, over 1000 steps after the gradient
// stops. The weights must come out bit for bit the same, and the moments must hold zeros where the plain run holds
// subnormals.
TEST(Optimizers, StoppedGradientsLeaveZerosNotSubnormalsAndTheSameWeights) {
  const std::vector<optim::Range> ranges = {{0, 4096}};
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> p0(4096), g0(4096);
  for (size_t i = 0; i < p0.size(); ++i) p0[i] = n(rng), g0[i] = 0.1f * n(rng);
  const int live = 5, total = live + 1000;
  auto subnormals = [](const std::vector<float>& x) {
    return std::count_if(x.begin(), x.end(), [](float v) { return std::fpclassify(v) == FP_SUBNORMAL; });
  };
  for (const char* name : {"adam", "sgd"}) {
    OptimizerConfig c;
    c.kind = optimizer_named(name);
    c.lr = 0.01, c.momentum = 0.9;
    auto opt = optim::make(c, p0.size());
    std::vector<float> p = p0, g = g0;
    // torch's formula, one element at a time, in this thread's default floating-point mode.
    std::vector<float> want = p0, m(p0.size()), v(p0.size());
    for (int t = 1; t <= total; ++t) {
      if (t == live + 1) std::fill(g.begin(), g.end(), 0.f);
      opt->step(p.data(), g.data(), ranges);
      for (size_t i = 0; i < want.size(); ++i) {
        if (c.kind == Optimizer::Sgd) {
          m[i] = t == 1 ? g[i] : float(c.momentum) * m[i] + g[i];
          want[i] = want[i] - float(c.lr) * m[i];
        } else {
          m[i] = m[i] * 0.9f + float(1.0 - 0.9) * g[i];
          v[i] = v[i] * 0.999f + float(1.0 - 0.999) * g[i] * g[i];
          float denom = std::sqrt(v[i]) / float(std::sqrt(1.0 - std::pow(0.999, t))) + 1e-8f;
          want[i] = want[i] - float(c.lr / (1.0 - std::pow(0.9, t))) * (m[i] / denom);
        }
      }
    }
    ASSERT_GT(subnormals(m), 0) << name << ": the plain run never reached subnormal moments; the test tests nothing";
    EXPECT_EQ(p, want) << name << ": weights differ from torch's formula";
    for (auto& [key, buf] : opt->buffers()) EXPECT_EQ(subnormals(*buf), 0) << name << " " << key;
  }
}
