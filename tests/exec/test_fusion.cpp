// The activation patterns' fusion (runtime/exec/fusion.cpp, fuse_patterns): each pattern PyTorch exports becomes one
// FusedActivation node; graphs that differ from a pattern (other operands, a value read elsewhere, another constant)
// keep their ops; and a model trained with the fused node ends at the weights the unfused ops give, to float32
// rounding. Graphs are built by hand, Linear, activation, Linear, as nn.Sequential exports them.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "runtime/autodiff/autodiff.h"
#include "runtime/exec/fusion.h"
#include "support/graph_builder.h"

using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

// A float32 Constant of one element, shape (), as the exporter's Constant nodes become at load.
int constant(GraphBuilder& b, float v) {
  const int id = b.param("c" + std::to_string(b.g.values.size()), {}, {v});
  b.g.values[id].kind = ir::ValueKind::Constant;
  return id;
}

// An activation's nodes over h; returns their output.
using Pattern = std::function<int(GraphBuilder&, int h)>;

struct Model {
  GraphBuilder b{13};
  int x = -1, y = -1;
};

// X (5,6) -> Linear(6, 8) -> act -> Linear(8, 3).
Model model(const Pattern& act) {
  Model m;
  m.x = m.b.input("X", {5, 6});
  const int h =
      m.b.node("Gemm", {m.x, m.b.param("W1", {6, 8}, random_vec(48, 1)), m.b.param("b1", {8}, random_vec(8, 2))});
  const int a = act(m.b, h);
  m.y = m.b.node("Gemm", {a, m.b.param("W2", {8, 3}, random_vec(24, 3)), m.b.param("b2", {3}, random_vec(3, 4))});
  m.b.finish({m.y});
  return m;
}

int op(GraphBuilder& b, const char* type, std::vector<int> in, std::map<std::string, ir::Attr> attrs = {}) {
  return b.node(type, std::move(in), std::move(attrs));
}

// torch.onnx.export's nn.GELU(): x * (1 + erf(x / sqrt 2)) * 0.5.
int gelu_erf(GraphBuilder& b, int x) {
  const int e = op(b, "Erf", {op(b, "Div", {x, constant(b, 1.4142135381698608f)})});
  return op(b, "Mul", {op(b, "Mul", {x, op(b, "Add", {e, constant(b, 1.f)})}), constant(b, 0.5f)});
}
// nn.GELU(approximate='tanh'): 0.5 * (x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * (x * (x * x)))))).
int gelu_tanh(GraphBuilder& b, int x) {
  const int cube = op(b, "Mul", {x, op(b, "Mul", {x, x})});
  const int inner = op(b, "Add", {x, op(b, "Mul", {constant(b, 0.044715f), cube})});
  const int t = op(b, "Tanh", {op(b, "Mul", {constant(b, 0.7978845834732056f), inner})});
  return op(b, "Mul", {constant(b, 0.5f), op(b, "Mul", {x, op(b, "Add", {constant(b, 1.f), t})})});
}
// The tanh form as other exporters write it: Pow(x, 3), and (0.5 * x) * (1 + tanh(...)).
int gelu_tanh_pow(GraphBuilder& b, int x) {
  const int cube = op(b, "Pow", {x, constant(b, 3.f)});
  const int inner = op(b, "Add", {op(b, "Mul", {cube, constant(b, 0.044715f)}), x});
  const int t = op(b, "Tanh", {op(b, "Mul", {inner, constant(b, 0.7978845834732056f)})});
  return op(b, "Mul", {op(b, "Mul", {constant(b, 0.5f), x}), op(b, "Add", {t, constant(b, 1.f)})});
}
int silu(GraphBuilder& b, int x) { return op(b, "Mul", {x, op(b, "Sigmoid", {x})}); }
int silu_swapped(GraphBuilder& b, int x) { return op(b, "Mul", {op(b, "Sigmoid", {x}), x}); }
int mish(GraphBuilder& b, int x) { return op(b, "Mul", {x, op(b, "Tanh", {op(b, "Softplus", {x})})}); }
// nn.Hardswish at opset 13: x * HardSigmoid(x) with alpha 1/6.
int hardswish(GraphBuilder& b, int x) {
  return op(b, "Mul", {x, op(b, "HardSigmoid", {x}, {{"alpha", attr_f(0.16666667163372f)}})});
}

// The ops a pattern needs that another branch may not have registered yet.
bool registered(const std::vector<const char*>& types) {
  for (const char* t : types)
    if (!ops::find_op(t)) return false;
  return true;
}

// The FusedActivation functions in g, in node order.
std::vector<std::string> fused(const ir::Graph& g) {
  std::vector<std::string> f;
  for (const ir::Node& n : g.nodes)
    if (n.op_type == "FusedActivation") f.push_back(n.attrs.at("function").s);
  return f;
}

// Five steps of plain SGD (lr 0.1) on L = mean((Y - T)^2), fused or not; returns every parameter's final values.
std::vector<float> train(const Model& m, bool fuse) {
  ir::Graph g = m.b.g;
  if (fuse) fuse_patterns(g, g.params.data());
  const auto t = autodiff::add_training(g, autodiff::Loss::MSE, {});
  Executor ex(g);
  ex.prepare({{m.x, {5, 6}}, {t.target, {5, 3}}});
  const std::vector<float> X = random_vec(30, 7, -2.f, 2.f), T = random_vec(15, 8);
  std::copy(X.begin(), X.end(), ex.data(m.x));
  std::copy(T.begin(), T.end(), ex.data(t.target));
  for (int step = 0; step < 5; ++step) {
    ex.run();
    for (int p : t.trainable)
      for (int64_t i = 0; i < g.numel(p); ++i) g.param(p)[i] -= 0.1f * ex.grads()[g.values[p].offset + i];
  }
  return g.params;
}

void expect_same_training(const Model& m) {
  const std::vector<float> fused_w = train(m, true), plain_w = train(m, false);
  ASSERT_EQ(fused_w.size(), plain_w.size());
  for (size_t i = 0; i < plain_w.size(); ++i)
    ASSERT_NEAR(fused_w[i], plain_w[i], 1e-5 * (1 + std::fabs(plain_w[i]))) << "parameter element " << i;
  // And training moved the weights, so that the comparison says something.
  EXPECT_NE(plain_w, m.b.g.params);
}

struct Case {
  const char* name;
  Pattern act;
  const char* function;
  std::vector<const char*> needs;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }  // ctest lists the case by name

class Fusion : public ::testing::TestWithParam<Case> {};

TEST_P(Fusion, BecomesOneNodeAndTrainsAsItsParts) {
  const Case& c = GetParam();
  if (!registered(c.needs)) GTEST_SKIP() << "the pattern's ops are not all registered";
  const Model m = model(c.act);
  ir::Graph g = m.b.g;
  fuse_patterns(g, g.params.data());
  EXPECT_EQ(fused(g), std::vector<std::string>{c.function});
  EXPECT_EQ(g.nodes.size(), 3u) << "Gemm, FusedActivation, Gemm";
  expect_same_training(m);
}

INSTANTIATE_TEST_SUITE_P(Patterns, Fusion,
                         ::testing::Values(Case{"gelu_erf", gelu_erf, "gelu_erf", {"Erf", "Div", "Mul"}},
                                           Case{"gelu_tanh", gelu_tanh, "gelu_tanh", {"Mul"}},
                                           Case{"gelu_tanh_pow", gelu_tanh_pow, "gelu_tanh", {"Mul", "Pow"}},
                                           Case{"silu", silu, "swish", {"Mul"}},
                                           Case{"silu_swapped", silu_swapped, "swish", {"Mul"}},
                                           Case{"mish", mish, "mish", {"Softplus", "Mul"}},
                                           Case{"hardswish", hardswish, "hardswish", {"Mul"}}),
                         [](const auto& info) { return std::string(info.param.name); });

// Graphs that are not a pattern keep their ops, and train as they did.
void expect_unfused(const Pattern& act) {
  const Model m = model(act);
  ir::Graph g = m.b.g;
  fuse_patterns(g, g.params.data());
  EXPECT_TRUE(fused(g).empty());
  EXPECT_EQ(g.nodes.size(), m.b.g.nodes.size());
  expect_same_training(m);
}

TEST(FusionLeaves, AMulOfOtherOperands) {
  // x * sigmoid(z), z another value: not SiLU.
  expect_unfused([](GraphBuilder& b, int x) { return op(b, "Mul", {x, op(b, "Sigmoid", {op(b, "Neg", {x})})}); });
}

TEST(FusionLeaves, ABranchReadElsewhere) {
  // sigmoid(x) also added to the result: the Sigmoid's output has a second reader.
  expect_unfused([](GraphBuilder& b, int x) {
    const int s = op(b, "Sigmoid", {x});
    return op(b, "Add", {op(b, "Mul", {x, s}), s});
  });
  // The inner product of the tanh form read again.
  expect_unfused([](GraphBuilder& b, int x) {
    const int y = gelu_tanh(b, x);
    const int t = b.g.nodes[b.g.nodes.size() - 4].outputs[0];  // Tanh's output
    return op(b, "Add", {y, t});
  });
}

TEST(FusionLeaves, AnotherConstant) {
  // 0.6 * x * (1 + tanh(...)) is not GELU; nor is HardSigmoid at its default alpha 0.2 times x HardSwish.
  expect_unfused([](GraphBuilder& b, int x) {
    const int y = gelu_tanh(b, x);
    const int half = b.g.nodes.back().inputs[0];  // its value is pending in the builder: changed there
    for (auto& [id, data] : b.pending_params)
      if (id == half) data = {0.6f};
    return y;
  });
  expect_unfused([](GraphBuilder& b, int x) { return op(b, "Mul", {x, op(b, "HardSigmoid", {x})}); });
}

TEST(FusionLeaves, AGraphOutputInside) {
  // The Sigmoid's output is the model's output too: it must still be written.
  Model m;
  m.x = m.b.input("X", {5, 6});
  const int s = op(m.b, "Sigmoid", {m.x});
  m.y = op(m.b, "Mul", {m.x, s});
  m.b.finish({m.y, s});
  ir::Graph g = m.b.g;
  fuse_patterns(g, g.params.data());
  EXPECT_TRUE(fused(g).empty());
}

}  // namespace

// mask_before_max_pool: X (2,3,9,8) -> Conv(4, 3x3) -> Relu -> MaxPool -> Flatten -> Gemm, pools with disjoint and
// with overlapping windows. The rewritten graph masks the pooled gradient by the pool's output, and its gradients
// are bitwise those of the graph autodiff wrote.
struct PoolCase {
  std::vector<int64_t> kernel, strides;
  int64_t features;  // 4 channels times the pooled plane
};
class MaskBeforeMaxPool : public ::testing::TestWithParam<PoolCase> {};

TEST_P(MaskBeforeMaxPool, MasksThePooledGradientAndComputesTheSameGradients) {
  const PoolCase& c = GetParam();
  GraphBuilder b{13};
  const int x = b.input("X", {2, 3, 9, 8});
  const int conv =
      b.node("Conv", {x, b.param("W", {4, 3, 3, 3}, random_vec(108, 1)), b.param("B", {4}, random_vec(4, 2))},
             {{"pads", ir::Attr::of(std::vector<int64_t>{1, 1, 1, 1})}});
  const int relu = b.node("Relu", {conv});
  const int pool =
      b.node("MaxPool", {relu}, {{"kernel_shape", ir::Attr::of(c.kernel)}, {"strides", ir::Attr::of(c.strides)}});
  const int flat = b.node("Flatten", {pool});
  const int y = b.node("Gemm", {flat, b.param("W2", {c.features, 3}, random_vec(size_t(c.features) * 3, 3))});
  b.finish({y});
  std::vector<std::vector<float>> grads;
  for (bool rewrite : {false, true}) {
    ir::Graph g = b.g;
    const auto t = autodiff::add_training(g, autodiff::Loss::MSE, {});
    if (rewrite) {
      mask_before_max_pool(g);
      int masked = 0;
      for (const ir::Node& n : g.nodes)
        if (n.op_type == "ReluGrad") {
          EXPECT_EQ(n.inputs[1], pool) << "the mask reads the pool's output";
          EXPECT_EQ(g.nodes[g.values[n.outputs[0]].consumers.at(0)].op_type, "PoolGrad");
          ++masked;
        }
      EXPECT_EQ(masked, 1);
    }
    Executor ex(g);
    ex.prepare({{x, {2, 3, 9, 8}}, {t.target, {2, 3}}});
    const std::vector<float> X = random_vec(432, 7, -2.f, 2.f), T = random_vec(6, 8);
    std::copy(X.begin(), X.end(), ex.data(x));
    std::copy(T.begin(), T.end(), ex.data(t.target));
    ex.run();
    grads.emplace_back(ex.grads(), ex.grads() + g.params.size());
  }
  EXPECT_EQ(grads[0], grads[1]);
  int zero = 0;  // the Relu's mask matters: some units are dead
  for (float v : grads[0]) zero += v == 0.f;
  EXPECT_LT(zero, static_cast<int>(grads[0].size()));
}

INSTANTIATE_TEST_SUITE_P(Pools, MaskBeforeMaxPool,
                         ::testing::Values(PoolCase{{2, 2}, {2, 2}, 4 * 4 * 4}, PoolCase{{3, 3}, {1, 1}, 4 * 7 * 6}));

// fold_zero_pad: X (2,3,7,6) -> Pad(zeros, 1 on each spatial side) -> AveragePool(3x3, stride 2) -> Flatten -> Gemm,
// as torch.onnx.export writes nn.AvgPool2d(3, 2, padding=1). Folded, the pool pads and counts the zeros itself; its
// outputs and gradients are those of the Pad and the pool, to float32 rounding.
TEST(FoldZeroPad, BecomesThePoolsPadsAndComputesTheSame) {
  GraphBuilder b{13};
  const int x = b.input("X", {2, 3, 7, 6});
  const int padded = b.node("Pad", {x, b.int_const("pads", {0, 0, 1, 1, 0, 0, 1, 1})});
  const int pool = b.node("AveragePool", {padded},
                          {{"kernel_shape", ir::Attr::of(std::vector<int64_t>{3, 3})},
                           {"strides", ir::Attr::of(std::vector<int64_t>{2, 2})}});
  const int y = b.node("Gemm", {b.node("Flatten", {pool}), b.param("W", {36, 3}, random_vec(108, 3))});
  b.finish({y});
  std::vector<std::vector<float>> outs, grads;
  for (bool fold : {false, true}) {
    ir::Graph g = b.g;
    if (fold) {
      fold_zero_pad(g, g.params.data());
      ASSERT_EQ(g.nodes.size(), 3u);
      const ir::Node& p = g.nodes[0];
      EXPECT_EQ(p.op_type, "AveragePool");
      EXPECT_EQ(p.inputs[0], x);
      EXPECT_EQ(p.attrs.at("pads").ints, (std::vector<int64_t>{1, 1, 1, 1}));
      EXPECT_EQ(p.attr_i("count_include_pad", 0), 1);
    }
    const auto t = autodiff::add_training(g, autodiff::Loss::MSE, {});
    Executor ex(g);
    ex.prepare({{x, {2, 3, 7, 6}}, {t.target, {2, 3}}});
    const std::vector<float> X = random_vec(252, 7, -2.f, 2.f), T = random_vec(6, 8);
    std::copy(X.begin(), X.end(), ex.data(x));
    std::copy(T.begin(), T.end(), ex.data(t.target));
    ex.run();
    outs.emplace_back(ex.data(y), ex.data(y) + 6);
    grads.emplace_back(ex.grads(), ex.grads() + g.params.size());
  }
  for (size_t i = 0; i < outs[0].size(); ++i) EXPECT_NEAR(outs[1][i], outs[0][i], 1e-6f) << i;
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_NEAR(grads[1][i], grads[0][i], 1e-6f) << i;
}

// A Pad of another value, or on the channels, stays.
TEST(FoldZeroPad, LeavesAPadOfOnesAndAPadOfChannels) {
  for (int which = 0; which < 2; ++which) {
    GraphBuilder b{13};
    const int x = b.input("X", {2, 3, 7, 6});
    const int value = b.param("v", {}, {1.f});
    b.g.values[value].kind = ir::ValueKind::Constant;
    const std::vector<int64_t> pads =
        which ? std::vector<int64_t>{0, 1, 1, 1, 0, 0, 1, 1} : std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1};
    std::vector<int> in = {x, b.int_const("pads", pads)};
    if (!which) in.push_back(value);
    const int padded = b.node("Pad", in);
    b.finish({b.node("AveragePool", {padded}, {{"kernel_shape", ir::Attr::of(std::vector<int64_t>{3, 3})}})});
    ir::Graph g = b.g;
    fold_zero_pad(g, g.params.data());
    EXPECT_EQ(g.nodes.size(), 2u) << which;
  }
}
