// Gradients through graphs of several ops against central finite differences, in double precision over the ops' own
// references (check::ReferenceForward), at points away from the ReLU kinks; the losses, fan-out, Dropout's mask; and
// the kinks themselves, exactly: ReLU'(0) = 0 and LeakyReLU'(0) = alpha, as in PyTorch. Each op on its own, at the
// cases its file declares, is tests/ops/test_registered_ops.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "onnxtrain/error.h"
#include "support/graph_builder.h"
#include "runtime/autodiff/autodiff.h"
#include "runtime/check/reference.h"

using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

using Vec = std::vector<double>;

// The losses, in double: mse against t, or cross-entropy -log p[label] (p from the output) with labels.
double ref_loss(autodiff::Loss loss, const Vec& y, const ir::Shape& ys, const Vec& t, bool probs_out) {
  double total = 0;
  if (loss == autodiff::Loss::MSE) {
    for (size_t i = 0; i < y.size(); ++i) total += (y[i] - t[i]) * (y[i] - t[i]);
    return total / double(y.size());
  }
  if (loss == autodiff::Loss::BCE) {  // on probabilities y
    for (size_t i = 0; i < y.size(); ++i) total -= t[i] * std::log(y[i]) + (1 - t[i]) * std::log(1 - y[i]);
    return total / double(y.size());
  }
  if (loss == autodiff::Loss::NLL) {  // y holds log-probabilities
    for (int64_t i = 0; i < ys[0]; ++i) total -= y[i * ys[1] + static_cast<int64_t>(t[i])];
    return total / double(ys[0]);
  }
  int64_t N = ys[0], C = ys[1];
  for (int64_t i = 0; i < N; ++i) {
    const double* row = y.data() + i * C;
    int64_t label = static_cast<int64_t>(t[i]);
    if (probs_out) {
      total += -std::log(row[label]);
    } else {
      double mx = *std::max_element(row, row + C), se = 0;
      for (int64_t c = 0; c < C; ++c) se += std::exp(row[c] - mx);
      total += mx + std::log(se) - row[label];
    }
  }
  return total / double(N);
}

// Builds graph(b) with every operand a parameter, adds training, and compares each parameter's analytic gradient
// (oneDNN backward kernels, float32) with central differences of the loss over the ops' double references
// (check::ReferenceForward, each node through the `reference` in its op's file).
void gradcheck(GraphBuilder& b, int x_in, const ir::Shape& x_shape, autodiff::Loss loss, const std::string& what,
               double tol = 2e-3) {
  ir::Graph& g = b.g;
  const ir::Graph fwd = g;  // the forward graph as built, for the reference (autodiff rewrites g)
  auto t = autodiff::add_training(g, loss, {});
  Executor ex(g);
  auto X = random_vec(numel(x_shape), 77, -1.f, 1.f);
  check::ReferenceForward ref(fwd, Tensor::f32_of(x_shape, X));
  ref.run_all();
  const int out = fwd.outputs[0];
  const Vec y0 = ref.value(out).data;
  const ir::Shape out_shape = ref.value(out).shape;
  // Targets: class labels for cross-entropy and nll, values for mse and bce.
  Vec target;
  ir::Shape target_shape;
  if (loss == autodiff::Loss::MSE || loss == autodiff::Loss::BCE) {
    auto tv = random_vec(y0.size(), 99, loss == autodiff::Loss::BCE ? 0.f : -1.f, 1.f);
    target.assign(tv.begin(), tv.end());
    target_shape = out_shape;
  } else {
    for (int64_t i = 0; i < out_shape[0]; ++i) target.push_back(double((i * 7 + 3) % out_shape[1]));
    target_shape = {out_shape[0]};
  }
  ex.prepare({{x_in, x_shape}, {t.target, target_shape}});
  std::copy(X.begin(), X.end(), ex.data(x_in));
  for (size_t i = 0; i < target.size(); ++i) ex.data(t.target)[i] = static_cast<float>(target[i]);
  ex.run();
  const bool probs_out = t.fused_softmax;
  // The forward pass against the reference too (unless a fused Softmax left the training graph).
  if (!t.fused_softmax) {
    for (size_t i = 0; i < y0.size(); ++i)
      ASSERT_NEAR(ex.data(out)[i], y0[i], 1e-4 * (1 + std::fabs(y0[i]))) << what << ": output " << i;
  }

  ASSERT_FALSE(t.trainable.empty()) << what;
  for (int p : t.trainable) {
    const float* analytic = ex.data(p) == g.param(p) ? ex.grads() + g.values[p].offset : nullptr;
    ASSERT_NE(analytic, nullptr);
    const std::vector<size_t> after = ref.downstream(p);
    Vec& v = ref.value(p).data;
    for (int64_t i = 0; i < g.numel(p); ++i) {
      const double h = 1e-6, orig = v[i];
      v[i] = orig + h;
      ref.run(after);
      double lp = ref_loss(loss, ref.value(out).data, out_shape, target, probs_out);
      v[i] = orig - h;
      ref.run(after);
      double lm = ref_loss(loss, ref.value(out).data, out_shape, target, probs_out);
      v[i] = orig;
      double numeric = (lp - lm) / (2 * h);
      ASSERT_NEAR(analytic[i], numeric, tol * (1 + std::fabs(numeric)))
          << what << ": d" << g.values[p].name << "[" << i << "]";
    }
    ref.run(after);
  }
}

// Moves values away from the kink at 0, so finite differences do not straddle it.
std::vector<float> away_from_zero(std::vector<float> v) {
  for (float& x : v)
    if (std::fabs(x) < 0.05f) x = x < 0 ? -0.05f : 0.05f;
  return v;
}

TEST(GemmGradient, EveryTransposeAlphaBetaAndShapeOfC) {
  const int64_t M = 3, K = 4, N = 5;
  const std::vector<ir::Shape> c_shapes = {{}, {1}, {N}, {1, N}, {M, 1}, {M, N}};
  uint32_t seed = 1;
  for (bool tA : {false, true})
    for (bool tB : {false, true})
      for (float alpha : {1.f, 0.7f})
        for (float beta : {1.f, -1.5f})
          for (int c = -1; c < static_cast<int>(c_shapes.size()); ++c) {
            GraphBuilder b;
            int x = b.input("X", {2, tA ? M : K});  // only to feed something; A is the parameter below
            (void)x;
            int A = b.param("A", tA ? ir::Shape{K, M} : ir::Shape{M, K}, random_vec(M * K, seed++));
            int B = b.param("B", tB ? ir::Shape{N, K} : ir::Shape{K, N}, random_vec(K * N, seed++));
            std::vector<int> ins = {A, B};
            if (c >= 0) ins.push_back(b.param("C", c_shapes[c], random_vec(numel(c_shapes[c]), seed++)));
            int y = b.node(
                "Gemm", ins,
                {{"alpha", attr_f(alpha)}, {"beta", attr_f(beta)}, {"transA", attr_i(tA)}, {"transB", attr_i(tB)}});
            b.finish({y});
            gradcheck(b, x, {2, tA ? M : K}, autodiff::Loss::MSE,
                      "tA=" + std::to_string(tA) + " tB=" + std::to_string(tB) + " alpha=" + std::to_string(alpha) +
                          " beta=" + std::to_string(beta) + " C#" + std::to_string(c));
          }
}

// X (input) -> Gemm(W, b) -> act -> mse: the activation's rule is checked through dW and db.
void act_check(const std::string& op, std::map<std::string, ir::Attr> attrs, const std::string& what) {
  GraphBuilder b;
  int x = b.input("X", {4, 3});
  int W = b.param("W", {3, 6}, random_vec(18, 5));
  int bias = b.param("b", {6}, away_from_zero(random_vec(6, 6)));
  int h = b.node("Gemm", {x, W, bias});
  int y = b.node(op, {h}, attrs);
  b.finish({y});
  gradcheck(b, x, {4, 3}, autodiff::Loss::MSE, what);
}

TEST(ReluGradient, MatchesFiniteDifferences) { act_check("Relu", {}, "Relu"); }

TEST(LeakyReluGradient, SeveralAlphas) {
  for (float alpha : {0.01f, 0.2f, 1.5f, -0.3f})
    act_check("LeakyRelu", {{"alpha", attr_f(alpha)}}, "LeakyRelu alpha=" + std::to_string(alpha));
}

TEST(SoftmaxGradient, EveryAxisAndOpset) {
  for (int opset : {1, 11, 13})
    for (int axis : {0, 1, 2, -1}) {
      // A 3-D Softmax input straight from a parameter, so every axis (and each opset's 2-D coercion) is reachable.
      GraphBuilder b(opset);
      int x = b.input("X", {2, 3});
      int S = b.param("S", {2, 3, 4}, random_vec(24, 9, -2.f, 2.f));
      int y = b.node("Softmax", {S}, {{"axis", attr_i(axis)}});
      b.finish({y});
      gradcheck(b, x, {2, 3}, autodiff::Loss::MSE, "opset " + std::to_string(opset) + " axis " + std::to_string(axis));
    }
}

TEST(SoftmaxCrossEntropy, FusedGradientIsPMinusOnehotOverN) {
  for (int opset : {11, 13}) {
    GraphBuilder b(opset);
    int x = b.input("X", {5, 3});
    int W = b.param("W", {3, 4}, random_vec(12, 10, -2.f, 2.f));
    int bias = b.param("b", {4}, random_vec(4, 11));
    int h = b.node("Gemm", {x, W, bias});
    int y = b.node("Softmax", {h}, {{"axis", attr_i(1)}});
    b.finish({y});
    gradcheck(b, x, {5, 3}, autodiff::Loss::CrossEntropy, "fused, opset " + std::to_string(opset));
  }
}

TEST(CrossEntropyOnLogits, MatchesFiniteDifferences) {
  GraphBuilder b;
  int x = b.input("X", {5, 3});
  int W = b.param("W", {3, 4}, random_vec(12, 12, -2.f, 2.f));
  int y = b.node("Gemm", {x, W});
  b.finish({y});
  gradcheck(b, x, {5, 3}, autodiff::Loss::CrossEntropy, "logits");
}

TEST(NllAndBce, FusedWithTheirHeadAndOnTheirOwn) {
  for (std::string head : {"LogSoftmax", "none"}) {
    GraphBuilder b;
    int x = b.input("X", {5, 3});
    int W = b.param("W", {3, 4}, random_vec(12, 40, -2.f, 2.f));
    int h = b.node("Gemm", {x, W});
    // Without a LogSoftmax head nll reads the output as log-probabilities as it is.
    int y = head == "LogSoftmax" ? b.node("LogSoftmax", {h}, {{"axis", attr_i(1)}}) : h;
    b.finish({y});
    gradcheck(b, x, {5, 3}, autodiff::Loss::NLL, "nll, head " + head);
  }
  for (bool fused : {true, false}) {
    GraphBuilder b;
    int x = b.input("X", {5, 3});
    int W = b.param("W", {3, 4}, random_vec(12, 41, -2.f, 2.f));
    int p = b.node("Sigmoid", {b.node("Gemm", {x, W})});
    int y = fused ? p : b.node("Identity", {p});  // an Identity after the Sigmoid: bce on probabilities, unfused
    b.finish({y});
    gradcheck(b, x, {5, 3}, autodiff::Loss::BCE, fused ? "bce fused with Sigmoid" : "bce on probabilities");
  }
}

TEST(FanOut, GradientsOfASharedValueAreSummed) {
  // W feeds two Gemms whose outputs meet in a third: dW is the sum of both paths.
  GraphBuilder b;
  int x = b.input("X", {3, 4});
  int W = b.param("W", {4, 4}, random_vec(16, 13));
  int h1 = b.node("Gemm", {x, W});
  int h2 = b.node("Gemm", {h1, W}, {{"alpha", attr_f(0.5f)}});
  int y = b.node("Gemm", {h1, h2}, {{"transB", attr_i(1)}});
  b.finish({y});
  gradcheck(b, x, {3, 4}, autodiff::Loss::MSE, "fan-out");
}

TEST(SigmoidAndTanhGradient, MatchFiniteDifferences) {
  act_check("Sigmoid", {}, "Sigmoid");
  act_check("Tanh", {}, "Tanh");
}

TEST(LogSoftmaxGradient, EveryAxisAndOpset) {
  for (int opset : {1, 11, 13})
    for (int axis : {0, 1, 2, -1}) {
      GraphBuilder b(opset);
      int x = b.input("X", {2, 3});
      int S = b.param("S", {2, 3, 4}, random_vec(24, 19, -2.f, 2.f));
      int y = b.node("LogSoftmax", {S}, {{"axis", attr_i(axis)}});
      b.finish({y});
      gradcheck(b, x, {2, 3}, autodiff::Loss::MSE,
                "LogSoftmax opset " + std::to_string(opset) + " axis " + std::to_string(axis));
    }
}

ir::Attr ints(std::vector<int64_t> v) {
  ir::Attr a;
  a.kind = ir::Attr::Ints;
  a.ints = std::move(v);
  return a;
}

TEST(ShapeOpsGradient, IdentityFlattenTranspose) {
  for (int64_t axis : {0, 1, 2, 3, -1}) {
    GraphBuilder b;
    int x = b.input("X", {2, 3});
    int S = b.param("S", {2, 3, 4}, random_vec(24, 21));
    int i = b.node("Identity", {S});
    int f = b.node("Flatten", {i}, {{"axis", attr_i(axis)}});
    int y = b.node("Sigmoid", {f});  // something after the reshape, so position matters to the loss
    b.finish({y});
    gradcheck(b, x, {2, 3}, autodiff::Loss::MSE, "Identity+Flatten axis " + std::to_string(axis));
  }
  for (auto perm : std::vector<std::vector<int64_t>>{{1, 2, 0}, {2, 0, 1}, {0, 2, 1}}) {
    GraphBuilder b;
    int x = b.input("X", {2, 3});
    int S = b.param("S", {2, 3, 4}, random_vec(24, 22));
    int t = b.node("Transpose", {S}, {{"perm", ints(perm)}});
    int y = b.node("Tanh", {t});
    b.finish({y});
    gradcheck(b, x, {2, 3}, autodiff::Loss::MSE, "Transpose");
  }
}

TEST(AddGradient, SummedOverBroadcastAxes) {
  const std::vector<std::pair<ir::Shape, ir::Shape>> shapes = {{{3, 4}, {3, 4}}, {{3, 4}, {4}},       {{3, 4}, {3, 1}},
                                                               {{3, 1}, {1, 4}}, {{2, 3, 4}, {3, 1}}, {{1}, {2, 3}}};
  uint32_t seed = 50;
  for (auto& [as, bs] : shapes) {
    GraphBuilder b;
    int x = b.input("X", {2, 3});
    int A = b.param("A", as, random_vec(numel(as), seed++));
    int B = b.param("B", bs, random_vec(numel(bs), seed++));
    int y = b.node("Tanh", {b.node("Add", {A, B})});
    b.finish({y});
    gradcheck(b, x, {2, 3}, autodiff::Loss::MSE, "Add " + ir::shape_str(as) + " + " + ir::shape_str(bs));
  }
}

TEST(ReshapeGradient, ZeroAndMinusOneRules) {
  for (auto shape : std::vector<std::vector<int64_t>>{{4, -1}, {0, -1, 2}, {24}, {2, 1, 3, 4}}) {
    GraphBuilder b;
    int x = b.input("X", {2, 3});
    int S = b.param("S", {2, 3, 4}, random_vec(24, 60));
    int r = b.node("Reshape", {S, b.int_const("shape", shape)});
    int y = b.node("Sigmoid", {r});
    b.finish({y});
    gradcheck(b, x, {2, 3}, autodiff::Loss::MSE, "Reshape");
  }
}

// Squeeze and Unsqueeze move no element, so position is all the gradient must keep: axes as an attribute (opset 11)
// and as a constant input (13), and Squeeze without axes.
TEST(SqueezeGradient, AxesFromTheAttributeOrTheInput) {
  for (int opset : {11, 13}) {
    auto axes = [&](GraphBuilder& b, std::vector<int64_t> a, std::vector<int>& in,
                    std::map<std::string, ir::Attr>& at) {
      if (opset < 13)
        at["axes"] = ints(a);
      else
        in.push_back(b.int_const("axes" + std::to_string(b.g.values.size()), a));
    };
    {
      GraphBuilder b(opset);
      int x = b.input("X", {2, 3});
      int S = b.param("S", {1, 3, 1, 4}, random_vec(12, 61));
      std::vector<int> in = {S};
      std::map<std::string, ir::Attr> at;
      axes(b, {0, -2}, in, at);
      int sq = b.node("Squeeze", in, at);  // (3, 4)
      std::vector<int> in2 = {b.node("Tanh", {sq})};
      std::map<std::string, ir::Attr> at2;
      axes(b, {-1, 1}, in2, at2);
      int y = b.node("Sigmoid", {b.node("Unsqueeze", in2, at2)});  // (3, 1, 4, 1)
      b.finish({y});
      gradcheck(b, x, {2, 3}, autodiff::Loss::MSE, "Squeeze+Unsqueeze opset " + std::to_string(opset));
    }
    GraphBuilder b(opset);
    int x = b.input("X", {2, 3});
    int S = b.param("S", {3, 1, 4, 1}, random_vec(12, 62));
    int y = b.node("Sigmoid", {b.node("Squeeze", {S})});  // every dim of 1: (3, 4)
    b.finish({y});
    gradcheck(b, x, {2, 3}, autodiff::Loss::MSE, "Squeeze without axes, opset " + std::to_string(opset));
  }
}

TEST(MatMulGradient, TwoDAndBatchedWithBroadcastAndOneD) {
  const std::vector<std::pair<ir::Shape, ir::Shape>> shapes = {
      {{3, 4}, {4, 5}},
      {{2, 3, 4}, {2, 4, 5}},
      {{2, 3, 4}, {4, 5}},
      {{1, 3, 4}, {2, 4, 5}},
      {{2, 1, 3, 4}, {3, 4, 2}},
      // 1-D operands: a row vector times a matrix or a batch, a matrix or a batch times a column, a dot product.
      {{4}, {4, 5}},
      {{4}, {2, 4, 5}},
      {{3, 4}, {4}},
      {{2, 3, 4}, {4}},
      {{4}, {4}}};
  uint32_t seed = 30;
  for (auto& [as, bs] : shapes) {
    GraphBuilder b;
    int x = b.input("X", {2, 3});
    int A = b.param("A", as, random_vec(numel(as), seed++));
    int B = b.param("B", bs, random_vec(numel(bs), seed++));
    int y = b.node("MatMul", {A, B});
    b.finish({y});
    gradcheck(b, x, {2, 3}, autodiff::Loss::MSE, "MatMul " + ir::shape_str(as) + " @ " + ir::shape_str(bs));
  }
}

// Dropout in training: about `ratio` of the elements dropped, the rest scaled by 1/(1-ratio), the gradient through
// the same mask; outside training the identity; the same seed, the same mask.
TEST(Dropout, DropsTheRatioScalesTheRestAndDifferentiatesThroughTheMask) {
  const float ratio = 0.3f;
  const int64_t R = 200, C = 100, E = R * C;
  auto run = [&](uint64_t seed, bool training, std::vector<float>* grad) {
    GraphBuilder b(10);  // opset 10: ratio as an attribute
    int x = b.input("X", {1, 1});
    int P = b.param("P", {R, C}, std::vector<float>(E, 1.f));
    int y = b.node("Dropout", {P}, {{"ratio", attr_f(ratio)}});
    b.finish({y});
    auto t = autodiff::add_training(b.g, autodiff::Loss::MSE, {});
    Executor ex(b.g);
    ex.set_seed(seed);
    ex.prepare({{x, {1, 1}}, {t.target, {R, C}}});
    std::fill(ex.data(t.target), ex.data(t.target) + E, 0.f);
    ex.set_training(training);
    ex.run();
    std::vector<float> out(ex.data(y), ex.data(y) + E);
    if (grad) grad->assign(ex.grads() + b.g.values[P].offset, ex.grads() + b.g.values[P].offset + E);
    return out;
  };
  std::vector<float> grad;
  auto y = run(7, true, &grad);
  int64_t dropped = 0;
  for (int64_t e = 0; e < E; ++e) {
    if (y[e] == 0.f) {
      ++dropped;
      EXPECT_EQ(grad[e], 0.f) << e;
    } else {
      ASSERT_FLOAT_EQ(y[e], 1.f / (1.f - ratio)) << e;
      // L = mean(y^2): dL/dy = 2y/E, and dy/dp = 1/(1-ratio) where kept.
      ASSERT_FLOAT_EQ(grad[e], 2.f * y[e] / E / (1.f - ratio)) << e;
    }
  }
  EXPECT_NEAR(double(dropped) / E, ratio, 0.02);
  EXPECT_EQ(run(7, true, nullptr), y) << "the same seed must draw the same mask";
  EXPECT_NE(run(8, true, nullptr), y) << "another seed must draw another mask";
  auto eval = run(7, false, nullptr);
  EXPECT_EQ(eval, std::vector<float>(E, 1.f)) << "outside training Dropout is the identity";
}

// ---- The kink, exactly --------------------------------------------------------------------------------------------
// With X = at everywhere, where Y = y_at: dX / dY there, from autodiff and the backward kernels.
float grad_at_kink(const std::string& op, std::map<std::string, ir::Attr> attrs, float at = 0.f, float y_at = 0.f) {
  GraphBuilder b;
  int x = b.input("X", {1, 4});
  int P = b.param("P", {1, 4}, {at, at, at, at});
  int y = b.node(op, {P}, attrs);
  (void)x;
  b.finish({y});
  auto t = autodiff::add_training(b.g, autodiff::Loss::MSE, {});
  Executor ex(b.g);
  ex.prepare({{x, {1, 4}}, {t.target, {1, 4}}});
  for (int i = 0; i < 4; ++i) ex.data(t.target)[i] = y_at - 1.f;  // dL/dy = 2*(Y - (Y - 1))/4 = 0.5
  ex.run();
  return ex.grads()[b.g.values[P].offset] / 0.5f;
}

// With X = 0 everywhere, dX = dY * slope at 0: 0 for Relu, alpha for LeakyRelu, as PyTorch defines them.
float grad_at_zero(const std::string& op, float alpha) {
  std::map<std::string, ir::Attr> attrs;
  if (op == "LeakyRelu") attrs["alpha"] = attr_f(alpha);
  return grad_at_kink(op, attrs);
}

TEST(Kink, ReluDerivativeAtZeroIsZero) { EXPECT_EQ(grad_at_zero("Relu", 0.f), 0.f); }

TEST(Kink, LeakyReluDerivativeAtZeroIsAlpha) {
  for (float alpha : {0.01f, 0.2f, 1.5f}) EXPECT_FLOAT_EQ(grad_at_zero("LeakyRelu", alpha), alpha) << alpha;
}

// The activations' kinks, as torch 1.13 computes them (checked there): the gradient of each input P_k of one node
// op(P_0, P_1, ...), every P_k a parameter, under dL/dY = 1. Clip's is hardtanh's: 0 at min and at max; a bound that
// trains gets torch.clamp's. HardSigmoid (alpha 1/6): 0 at -3 and 3. HardSwish: -1/2 at -3, 3/2 at 3. PRelu: the
// slope at 0.
std::vector<std::vector<float>> kink_grads(const std::string& op, int opset, const std::vector<ir::Shape>& shapes,
                                           const std::vector<std::vector<float>>& values,
                                           std::map<std::string, ir::Attr> attrs = {}) {
  GraphBuilder b(opset);
  int x = b.input("X", {1});
  std::vector<int> P;
  for (size_t k = 0; k < shapes.size(); ++k) P.push_back(b.param("P" + std::to_string(k), shapes[k], values[k]));
  int y = b.node(op, P, attrs);
  b.finish({y});
  const ir::Shape ys = b.g.values[y].shape;
  const size_t E = static_cast<size_t>(numel(ys));
  auto t = autodiff::add_training(b.g, autodiff::Loss::MSE, {});
  Executor ex(b.g);
  ex.prepare({{x, {1}}, {t.target, ys}});
  ex.run_forward();
  // L = mean((Y - T)^2) with T = Y - E/2 gives dL/dY = 1 everywhere.
  for (size_t e = 0; e < E; ++e) ex.data(t.target)[e] = ex.data(y)[e] - float(E) / 2;
  ex.run();
  std::vector<std::vector<float>> grads;
  for (size_t k = 0; k < P.size(); ++k) {
    const float* g = ex.grads() + b.g.values[P[k]].offset;
    grads.emplace_back(g, g + values[k].size());
  }
  return grads;
}

TEST(Kink, ClipPassesNothingAtItsBounds) {
  using V = std::vector<float>;
  // Attribute bounds (opset 6), ReLU6's too.
  EXPECT_EQ(
      kink_grads("Clip", 6, {{5}}, {{-1.f, -0.5f, 0.f, 0.5f, 1.f}}, {{"min", attr_f(-0.5f)}, {"max", attr_f(0.5f)}})[0],
      (V{0, 0, 1, 0, 0}));
  EXPECT_EQ(kink_grads("Clip", 6, {{4}}, {{0.f, 3.f, 6.f, 7.f}}, {{"min", attr_f(0.f)}, {"max", attr_f(6.f)}})[0],
            (V{0, 1, 0, 0}));
  // Input bounds (opset 13), which train as torch.clamp's: dmin = 1 (X = -1 < min), dmax = 1 (X = 2 > max).
  auto g = kink_grads("Clip", 13, {{6}, {}, {}}, {{-1.f, -0.5f, 0.f, 0.5f, 1.f, 2.f}, {-0.5f}, {1.f}});
  EXPECT_EQ(g[0], (V{0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(g[1], V{1});
  EXPECT_EQ(g[2], V{1});
  // min > max: Y = max, whose gradient takes it all (torch.clamp: dmin 0, dmax 3).
  g = kink_grads("Clip", 13, {{3}, {}, {}}, {{-1.f, 0.f, 1.f}, {0.5f}, {-0.5f}});
  EXPECT_EQ(g[0], (V{0, 0, 0}));
  EXPECT_EQ(g[1], V{0});
  EXPECT_EQ(g[2], V{3});
  // One bound: min alone at opset 11.
  g = kink_grads("Clip", 11, {{3}, {}}, {{-1.f, 0.f, 1.f}, {0.f}});
  EXPECT_EQ(g[0], (V{0, 0, 1}));
  EXPECT_EQ(g[1], V{1});
}

TEST(Kink, HardSigmoidPassesNothingAtItsEdges) {
  auto g = kink_grads("HardSigmoid", 6, {{5}}, {{-4.f, -3.f, 0.f, 3.f, 4.f}}, {{"alpha", attr_f(1.f / 6)}})[0];
  EXPECT_EQ(g[0], 0.f);
  EXPECT_EQ(g[1], 0.f);
  EXPECT_FLOAT_EQ(g[2], 1.f / 6);
  EXPECT_EQ(g[3], 0.f);
  EXPECT_EQ(g[4], 0.f);
}

TEST(Kink, HardSwishTakesTheMiddlePieceAtBothKinks) {
  auto g = kink_grads("HardSwish", 14, {{6}}, {{-4.f, -3.f, 0.f, 1.5f, 3.f, 4.f}})[0];
  EXPECT_EQ(g, (std::vector<float>{0.f, -0.5f, 0.5f, 1.f, 1.5f, 1.f}));
}

TEST(Kink, PReluSlopeAtZero) {
  auto g = kink_grads("PRelu", 16, {{4}, {1}}, {{-1.f, 0.f, 0.f, 2.f}, {0.25f}});
  EXPECT_EQ(g[0], (std::vector<float>{0.25f, 0.25f, 0.25f, 1.f}));
  EXPECT_EQ(g[1], std::vector<float>{-1.f});  // dslope = sum of dY * X where X < 0
}

// The gradients of each parameter of a one-node graph op(P0, P1, ...) under L = mean((Y - T)^2), T given. A
// parameter listed in constants is a float Constant instead (not trained: Pow's constant exponent).
std::vector<std::vector<float>> grads_of(const std::string& op,
                                         const std::vector<std::pair<ir::Shape, std::vector<float>>>& in,
                                         std::map<std::string, ir::Attr> attrs, const std::vector<float>& target,
                                         const std::set<size_t>& constants = {}) {
  GraphBuilder b;
  int x = b.input("X", {1});
  std::vector<int> ps;
  for (size_t k = 0; k < in.size(); ++k) {
    ps.push_back(b.param("P" + std::to_string(k), in[k].first, in[k].second));
    if (constants.count(k)) b.g.values[ps.back()].kind = ir::ValueKind::Constant;
  }
  int y = b.node(op, ps, attrs);
  b.finish({y});
  auto t = autodiff::add_training(b.g, autodiff::Loss::MSE, {});
  Executor ex(b.g);
  const ir::Shape ys = b.g.values[y].shape;
  ex.prepare({{x, {1}}, {t.target, ys}});
  std::copy(target.begin(), target.end(), ex.data(t.target));
  ex.run();
  std::vector<std::vector<float>> out;
  for (size_t k = 0; k < ps.size(); ++k) {
    const float* g = ex.grads() + b.g.values[ps[k]].offset;
    out.emplace_back(constants.count(k) ? std::vector<float>{} : std::vector<float>(g, g + in[k].second.size()));
  }
  return out;
}

// Pow at a zero base and a zero exponent, as PyTorch's pow_backward (values from torch 1.13): dX = 0 where E = 0,
// dE = 0 where X = 0 and E >= 0; dX = inf at X = 0 for 0 < E < 1. T = -1, so dY = (Y + 1) / 2.
TEST(Kink, PowAtZeroFollowsPyTorch) {
  const float inf = INFINITY;
  auto g = grads_of("Pow", {{{4}, {0.f, 0.f, 2.f, 0.f}}, {{4}, {0.f, 2.f, 0.f, 0.5f}}}, {}, {-1.f, -1.f, -1.f, -1.f});
  EXPECT_EQ(g[0], (std::vector<float>{0.f, 0.f, 0.f, inf}));
  EXPECT_EQ(g[1][0], 0.f);
  EXPECT_EQ(g[1][1], 0.f);
  EXPECT_FLOAT_EQ(g[1][2], 0.6931472f);
  EXPECT_EQ(g[1][3], 0.f);
  // A constant exponent (oneDNN's eltwise_pow): X^0 has dX = 0 even at X = 0; X^2 has dX = 2X * dY.
  auto zero = grads_of("Pow", {{{4}, {0.f, 0.f, -1.5f, 3.f}}, {{}, {0.f}}}, {}, {-1.f, -1.f, -1.f, -1.f}, {1});
  EXPECT_EQ(zero[0], (std::vector<float>{0.f, 0.f, 0.f, 0.f}));
  auto square = grads_of("Pow", {{{4}, {0.f, 0.f, -1.5f, 3.f}}, {{}, {2.f}}}, {}, {-1.f, -1.f, -1.f, -1.f}, {1});
  EXPECT_EQ(square[0][0], 0.f);
  EXPECT_FLOAT_EQ(square[0][2], -4.875f);
  EXPECT_FLOAT_EQ(square[0][3], 30.f);
}

// Pow-12's exponent of another dtype (an int64 constant): only the base trains, dX = dY * E * X^(E-1).
TEST(Autodiff, PowWithAnIntegerExponentTrainsTheBase) {
  GraphBuilder b(13);
  int x = b.input("X", {1});
  int P = b.param("P", {3}, {1.5f, -2.f, 0.5f});
  int E = b.int_const("E", {2, 3, 0});
  ir::Value& e = b.g.values[E];  // as the importer holds an int64 initializer: its values, and its bytes for kernels
  e.dtype = DType::Int64;
  e.raw.resize(e.ints.size() * sizeof(int64_t));
  std::memcpy(e.raw.data(), e.ints.data(), e.raw.size());
  int y = b.node("Pow", {P, E});
  b.finish({y});
  auto t = autodiff::add_training(b.g, autodiff::Loss::MSE, {});
  Executor ex(b.g);
  ex.prepare({{x, {1}}, {t.target, {3}}});
  for (int i = 0; i < 3; ++i) ex.data(t.target)[i] = 0.f;
  ex.run();
  // Y = (2.25, -8, 1), T = 0: dY = 2Y/3; dX = dY * E * X^(E-1), 0 where E = 0.
  const float* g = ex.grads() + b.g.values[P].offset;
  EXPECT_FLOAT_EQ(g[0], 2.f * 2.25f / 3.f * 2.f * 1.5f);
  EXPECT_FLOAT_EQ(g[1], 2.f * -8.f / 3.f * 3.f * 4.f);
  EXPECT_EQ(g[2], 0.f);
}

// ReduceL2 of an all-zero row: dX = 0 there, not 0/0, as PyTorch's norm backward gives.
TEST(Kink, ReduceL2AtZeroIsZero) {
  auto g = grads_of("ReduceL2", {{{2, 3}, {0.f, 0.f, 0.f, 3.f, 0.f, 4.f}}}, {{"axes", ops::attr({1})}}, {-1.f, 1.f});
  // Row 1: Y = 5, dY = (5 - 1), dX = dY * X / Y.
  EXPECT_EQ(g[0], (std::vector<float>{0.f, 0.f, 0.f, 4.f * 3.f / 5.f, 0.f, 4.f * 4.f / 5.f}));
}

// ReduceMax with ties: they share dY equally, as torch.amax's backward does ([[0, .5, .5], [.5, .5, 0]] for dY = 1);
// x.max(dim)[0] would give it to one of them.
TEST(Kink, ReduceMaxTiesShareTheGradient) {
  auto g = grads_of("ReduceMax", {{{2, 3}, {1.f, 3.f, 3.f, 2.f, 2.f, 0.f}}}, {{"axes", ops::attr({1})}}, {2.f, 1.f});
  EXPECT_EQ(g[0], (std::vector<float>{0.f, 0.5f, 0.5f, 0.5f, 0.5f, 0.f}));  // Y = (3, 2), dY = Y - T = 1
}

// The values PyTorch gives at each kink (torch.autograd at exactly the point, /usr/bin/python3).
TEST(Kink, AbsDerivativeAtZeroIsZero) { EXPECT_EQ(grad_at_kink("Abs", {}), 0.f); }  // torch.sign(0)

TEST(Kink, EluDerivativeAtZeroIsAlpha) {  // PyTorch's x <= 0 branch: alpha * exp(0)
  EXPECT_FLOAT_EQ(grad_at_kink("Elu", {}), 1.f);
  for (float alpha : {2.f, 0.3f}) EXPECT_FLOAT_EQ(grad_at_kink("Elu", {{"alpha", attr_f(alpha)}}), alpha) << alpha;
}

TEST(Kink, SeluDerivativeAtZeroIsGammaTimesAlpha) {  // torch.nn.functional.selu: 1.7580993
  EXPECT_NEAR(grad_at_kink("Selu", {}), 1.7580993f, 1e-6f);
  EXPECT_FLOAT_EQ(grad_at_kink("Selu", {{"alpha", attr_f(2.f)}, {"gamma", attr_f(3.f)}}), 6.f);
}

TEST(Kink, CeluDerivativeAtZeroIsOne) {  // PyTorch's x <= 0 branch: exp(0 / alpha), whatever alpha
  for (float alpha : {1.f, 2.f, 0.5f}) EXPECT_FLOAT_EQ(grad_at_kink("Celu", {{"alpha", attr_f(alpha)}}), 1.f) << alpha;
}

TEST(Kink, ThresholdedReluDerivativeAtAlphaIsZero) {  // torch.nn.functional.threshold: x <= threshold gives 0
  EXPECT_EQ(grad_at_kink("ThresholdedRelu", {}, 1.f), 0.f);
  EXPECT_EQ(grad_at_kink("ThresholdedRelu", {{"alpha", attr_f(-0.5f)}}, -0.5f), 0.f);
  const float above = std::nextafter(0.5f, 1.f);  // the next float up passes dY through
  EXPECT_EQ(grad_at_kink("ThresholdedRelu", {{"alpha", attr_f(0.5f)}}, above, above), 1.f);
}

TEST(Kink, SqrtDerivativeAtZeroIsInfinite) {  // PyTorch: grad / (2 * sqrt(0)) = inf
  EXPECT_EQ(grad_at_kink("Sqrt", {}), std::numeric_limits<float>::infinity());
}

TEST(Autodiff, FrozenParametersAndInputsGetNoGradient) {
  GraphBuilder b;
  int x = b.input("X", {2, 3});
  int W = b.param("W", {3, 2}, random_vec(6, 1));
  int bias = b.param("b", {2}, random_vec(2, 2));
  int y = b.node("Gemm", {x, W, bias});
  b.finish({y});
  auto t = autodiff::add_training(b.g, autodiff::Loss::MSE, {"b"});
  ASSERT_EQ(t.trainable, std::vector<int>{W});
  int grads = 0;
  for (const ir::Value& v : b.g.values) grads += v.grad_of >= 0;
  EXPECT_EQ(grads, 1);
  EXPECT_THROW(autodiff::add_training(b.g, autodiff::Loss::MSE, {"nope"}), Error);
}

// BatchNormalization in a training run: Y from the batch's statistics, gradients of everything before it and of scale
// and B through them (oneDNN's backward), against central differences of the reference computing with the batch's
// statistics (onnxtrain.batch_stats); the running statistics updated in place as torch.nn.BatchNorm1d does (momentum
// 0.9 in ONNX's sense, unbiased variance) and never trained. frozen: TrainOptions::freeze_batchnorm's mark, under which
// the running statistics normalize and stay. x_shape: (N, C, ...).
void batchnorm_training(int opset, bool frozen, const ir::Shape& x_shape) {
  SCOPED_TRACE("opset " + std::to_string(opset) + (frozen ? ", frozen" : ""));
  GraphBuilder b(opset);
  const int64_t N = x_shape[0], C = x_shape[1];
  int64_t S = 1;
  for (size_t i = 2; i < x_shape.size(); ++i) S *= x_shape[i];
  const int x = b.input("X", x_shape);
  // h = X + a, a of X's shape: every element of the normalization's input gets a gradient of its own.
  const int a = b.param("a", x_shape, random_vec(size_t(N * C * S), 4));
  const int h = b.node("Add", {x, a});
  const int scale = b.param("scale", {C}, random_vec(size_t(C), 5, 0.5f, 1.5f));
  const int bias = b.param("bias", {C}, random_vec(size_t(C), 6));
  const std::vector<float> rm0 = random_vec(size_t(C), 7), rv0 = random_vec(size_t(C), 8, 0.5f, 2.f);
  const int rm = b.param("running_mean", {C}, rm0), rv = b.param("running_var", {C}, rv0);
  std::map<std::string, ir::Attr> attrs;
  if (opset >= 14) attrs["training_mode"] = ir::Attr::of(1);
  const int y = b.node("BatchNormalization", {h, scale, bias, rm, rv}, attrs);
  b.finish({y});
  ir::Graph& g = b.g;
  ir::Graph fwd = g;  // the reference's graph: batch statistics, unless frozen
  for (ir::Node& n : fwd.nodes)
    if (n.op_type == "BatchNormalization" && !frozen) n.attrs["onnxtrain.batch_stats"] = ir::Attr::of(1);
  for (ir::Node& n : g.nodes)
    if (n.op_type == "BatchNormalization" && frozen) n.attrs["onnxtrain.frozen_state"] = ir::Attr::of(1);
  auto t = autodiff::add_training(g, autodiff::Loss::MSE, {});
  EXPECT_EQ(std::set<int>(t.trainable.begin(), t.trainable.end()), (std::set<int>{a, scale, bias}))
      << "the running statistics are trained";
  for (const ir::Value& v : g.values) EXPECT_NE(v.grad_of, rm) << v.name;
  const std::vector<float> X = random_vec(size_t(N * C * S), 77, -2.f, 2.f);
  check::ReferenceForward ref(fwd, Tensor::f32_of(x_shape, X));
  ref.run_all();
  const Vec y0 = ref.value(y).data;
  const std::vector<float> T = random_vec(y0.size(), 99);
  const auto loss = [&] {
    double sum = 0;
    const Vec& v = ref.value(y).data;
    for (size_t e = 0; e < v.size(); ++e) sum += (v[e] - T[e]) * (v[e] - T[e]);
    return sum / double(v.size());
  };
  Executor ex(g);
  ex.prepare({{x, x_shape}, {t.target, x_shape}});
  std::copy(X.begin(), X.end(), ex.data(x));
  std::copy(T.begin(), T.end(), ex.data(t.target));
  ex.set_training(true);
  ex.run();
  for (size_t e = 0; e < y0.size(); ++e) ASSERT_NEAR(ex.data(y)[e], y0[e], 1e-4 * (1 + std::fabs(y0[e]))) << "Y " << e;
  // The running statistics after the step: torch's update from the batch (h, as the reference computed it).
  const Vec& hv = ref.value(h).data;
  for (int64_t c = 0; c < C; ++c) {
    double m = 0, q = 0;
    for (int64_t i = 0; i < N; ++i)
      for (int64_t e = 0; e < S; ++e) m += hv[size_t((i * C + c) * S + e)];
    m /= double(N * S);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t e = 0; e < S; ++e) q += std::pow(hv[size_t((i * C + c) * S + e)] - m, 2);
    const double unbiased = q / double(N * S - 1);
    const double want_m = frozen ? rm0[c] : double(0.9f) * rm0[c] + (1 - double(0.9f)) * m;
    const double want_v = frozen ? rv0[c] : double(0.9f) * rv0[c] + (1 - double(0.9f)) * unbiased;
    EXPECT_NEAR(g.param(rm)[c], want_m, 1e-5) << "running_mean " << c;
    EXPECT_NEAR(g.param(rv)[c], want_v, 1e-5 * (1 + want_v)) << "running_var " << c;
  }
  for (int p : t.trainable) {
    const float* analytic = ex.grads() + g.values[p].offset;
    const std::vector<size_t> after = ref.downstream(p);
    Vec& v = ref.value(p).data;
    for (size_t i = 0; i < v.size(); ++i) {
      const double eps = 1e-6, orig = v[i];
      v[i] = orig + eps;
      ref.run(after);
      const double lp = loss();
      v[i] = orig - eps;
      ref.run(after);
      const double lm = loss();
      v[i] = orig;
      const double numeric = (lp - lm) / (2 * eps);
      ASSERT_NEAR(analytic[i], numeric, 2e-3 * (1 + std::fabs(numeric))) << "d" << g.values[p].name << "[" << i << "]";
    }
    ref.run(after);
  }
}

TEST(BatchNormalizationTraining, BatchStatisticsAndTorchsRunningUpdateInEachForm) {
  batchnorm_training(9, false, {6, 3});        // the opset 9-13 form, (N, C)
  batchnorm_training(15, false, {4, 2, 3});    // training_mode = 1, (N, C, L)
  batchnorm_training(7, false, {5, 3, 2, 2});  // an inference-form file trains with the batch's statistics too
  batchnorm_training(15, true, {6, 3});        // frozen: the running statistics normalize and stay
}

// An exporter that merged equal initializers (running_var and scale both ones) leaves one initializer that training
// would both update and train: refused, naming it.
TEST(BatchNormalizationTraining, RunningStatisticTiedToTheScaleIsRefused) {
  GraphBuilder b(15);
  const int x = b.input("X", {4, 2});
  const int ones = b.param("ones", {2}, {1.f, 1.f}), zeros = b.param("zeros", {2}, {0.f, 0.f});
  const int y = b.node("BatchNormalization", {x, ones, zeros, zeros, ones});
  b.finish({y});
  try {
    autodiff::add_training(b.g, autodiff::Loss::MSE, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'ones' is both a running statistic"), std::string::npos) << e.what();
  }
}

}  // namespace
