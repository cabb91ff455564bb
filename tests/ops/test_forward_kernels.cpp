// The kernels with many forms against their ops' double references (check::ReferenceForward: the `reference` in each
// op's file), on odd shapes (1, 3, 13, 127), random data and a fixed seed: Gemm over every attribute combination, shape
// of C, fused rectifier and inference packing; Relu and LeakyRelu with exact zeros; Softmax at every axis and opset
// on large inputs. Every op at its declared cases is tests/ops/test_registered_ops.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "onnxtrain/error.h"
#include "runtime/check/reference.h"
#include "support/graph_builder.h"
#include "runtime/ops/op.h"

using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

void expect_close(const std::vector<double>& want, const float* got, double tol, const std::string& what) {
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << what << " at " << i;
}

// ---- Gemm -------------------------------------------------------------------------------------------------------
// The graph's one input (shape xs, values X) through the reference: its output y.
std::vector<double> reference(const ir::Graph& g, const ir::Shape& xs, const std::vector<float>& X, int y) {
  check::ReferenceForward ref(g, Tensor::f32_of(xs, X));
  ref.run_all();
  return ref.value(y).data;
}

struct GemmCase {
  int64_t M, K, N;
};
// gtest prints this in test listings instead of the struct's bytes.
void PrintTo(const GemmCase& c, std::ostream* os) { *os << c.M << "x" << c.K << "x" << c.N; }

class GemmKernel : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmKernel, MatchesReference) {
  const auto [M, K, N] = GetParam();
  const std::vector<ir::Shape> c_shapes = {{}, {1}, {N}, {1, N}, {M, 1}, {M, N}};
  uint32_t seed = 1;
  // frozen: inference's executor, which packs a stored B once (an inner product where B^T is a layer's weight and C
  // its bias row, else a matmul); otherwise training's, which reads B as it is stored.
  for (bool frozen : {false, true})
    for (bool tA : {false, true})
      for (bool tB : {false, true})
        for (float alpha : {1.f, 0.5f})
          for (float beta : {1.f, 0.f, -2.f})
            for (int c = -1; c < static_cast<int>(c_shapes.size()); ++c)
              for (float slope : {-1.f, 0.f, 0.1f}) {  // the fusion pass's folded Relu/LeakyRelu; -1: none
                GraphBuilder b;
                ir::Shape as = tA ? ir::Shape{K, M} : ir::Shape{M, K};
                ir::Shape bs = tB ? ir::Shape{N, K} : ir::Shape{K, N};
                auto A = random_vec(M * K, seed++), B = random_vec(K * N, seed++);
                std::vector<float> C;
                int a = b.input("A", as);
                int w = b.param("B", bs, B);
                std::vector<int> ins = {a, w};
                if (c >= 0) {
                  C = random_vec(numel(c_shapes[c]), seed++);
                  ins.push_back(b.param("C", c_shapes[c], C));
                }
                std::map<std::string, ir::Attr> attrs = {
                    {"alpha", attr_f(alpha)}, {"beta", attr_f(beta)}, {"transA", attr_i(tA)}, {"transB", attr_i(tB)}};
                if (slope >= 0) attrs["onnxtrain.relu_slope"] = attr_f(slope);
                int y = b.node("Gemm", ins, attrs);
                b.finish({y});
                Executor ex(b.g);
                const uint64_t version = 0;
                if (frozen) ex.freeze_weights(&version);
                ex.prepare({{a, as}});
                std::copy(A.begin(), A.end(), ex.data(a));
                ex.run();
                ASSERT_EQ(ex.shape(y), (ir::Shape{M, N}));
                // The reference computes the Gemm alone; the folded rectifier is applied after it here.
                auto want = reference(b.g, as, A, y);
                if (slope >= 0)
                  for (double& v : want) v = v > 0 ? v : slope * v;
                expect_close(want, ex.data(y), 1e-5,
                             std::string(frozen ? "inference " : "") + "M=" + std::to_string(M) +
                                 " K=" + std::to_string(K) + " N=" + std::to_string(N) + " tA=" + std::to_string(tA) +
                                 " tB=" + std::to_string(tB) + " alpha=" + std::to_string(alpha) + " beta=" +
                                 std::to_string(beta) + " C#" + std::to_string(c) + " slope=" + std::to_string(slope));
              }
}

// The last case is a small batch against a large weight, which the kernel computes as Y^T = B * A'^T and a reorder
// when B is transposed (ops::gemm_computes_transposed), and as an inner product's backward-data pass when neither is
// transposed (ops::gemm_as_backward_data); the others take the direct matmul.
TEST(GemmKernel, OddShapesCoverBothFormsOfTheProduct) {
  EXPECT_TRUE(ops::gemm_computes_transposed(5, 257, 300));
  // Inference: every case here is small enough for the inner product where the Gemm is a layer (transA = 0, alpha
  // = 1, C a row or none); the other attribute combinations take the packed matmul.
  for (GemmCase c : {GemmCase{1, 1, 1}, GemmCase{3, 127, 1}, GemmCase{127, 3, 13}, GemmCase{13, 1, 127},
                     GemmCase{1, 13, 3}, GemmCase{5, 257, 300}})
    EXPECT_TRUE(ops::gemm_infers_as_inner_product(c.M, c.K, c.N)) << c.M << "x" << c.K << "x" << c.N;
  // And without transposes (a data gradient's form), as an inner product's backward-data pass.
  EXPECT_TRUE(ops::gemm_as_backward_data(5, 257, 300));
  for (GemmCase c :
       {GemmCase{1, 1, 1}, GemmCase{3, 127, 1}, GemmCase{127, 3, 13}, GemmCase{13, 1, 127}, GemmCase{1, 13, 3}}) {
    EXPECT_FALSE(ops::gemm_computes_transposed(c.M, c.K, c.N)) << c.M << "x" << c.K << "x" << c.N;
    EXPECT_FALSE(ops::gemm_as_backward_data(c.M, c.K, c.N)) << c.M << "x" << c.K << "x" << c.N;
  }
}

INSTANTIATE_TEST_SUITE_P(OddShapes, GemmKernel,
                         ::testing::Values(GemmCase{1, 1, 1}, GemmCase{3, 127, 1}, GemmCase{127, 3, 13},
                                           GemmCase{13, 1, 127}, GemmCase{1, 13, 3}, GemmCase{5, 257, 300}));

TEST(GemmKernel, RefusesShapesThatCannotMultiply) {
  GraphBuilder b;
  int a = b.input("A", {3, 5});
  int w = b.param("B", {4, 2}, random_vec(8, 1));
  int y = b.node("Gemm", {a, w});
  try {
    b.finish({y});  // static inference refuses it, as the importer does at load
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot multiply"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Gemm"), std::string::npos) << e.what();
  }
}

// ---- Relu and LeakyRelu -----------------------------------------------------------------------------------------
// Y = X > 0 ? X : alpha * X (alpha = 0 for Relu). Inputs include exact zeros.
void check_eltwise(const std::string& op, float alpha, const ir::Shape& shape, uint32_t seed) {
  GraphBuilder b;
  int x = b.input("X", shape);
  std::map<std::string, ir::Attr> attrs;
  if (op == "LeakyRelu" && alpha != 0.01f) attrs["alpha"] = attr_f(alpha);
  int y = b.node(op, {x}, attrs);
  b.finish({y});
  auto X = random_vec(numel(shape), seed, -3.f, 3.f);
  for (size_t i = 0; i < X.size(); i += 7) X[i] = 0.f;
  Executor ex(b.g);
  ex.prepare({{x, shape}});
  std::copy(X.begin(), X.end(), ex.data(x));
  ex.run();
  expect_close(reference(b.g, shape, X, y), ex.data(y), 1e-7, op + " alpha=" + std::to_string(alpha));
}

TEST(ReluKernel, MatchesReferenceWithZeros) {
  for (auto shape : std::vector<ir::Shape>{{1}, {3, 127}, {13, 1, 127}, {}}) check_eltwise("Relu", 0.f, shape, 7);
}

TEST(LeakyReluKernel, MatchesReferenceWithZeros) {
  for (float alpha : {0.01f, 0.3f, 1.7f, 0.f})
    for (auto shape : std::vector<ir::Shape>{{1}, {3, 127}, {13, 1, 127}}) check_eltwise("LeakyRelu", alpha, shape, 11);
}

// ---- Softmax ----------------------------------------------------------------------------------------------------
// opset >= 13: normalize along axis. Before 13: coerce to (prod(d[:axis]), prod(d[axis:])) and normalize rows. Inputs
// up to 20 in magnitude, which overflow exp() in float32 unless the kernel subtracts the maximum.
TEST(SoftmaxKernel, MatchesReferenceAtEveryAxisAndOpset) {
  uint32_t seed = 3;
  for (int opset : {1, 11, 13})
    for (auto shape : std::vector<ir::Shape>{{1, 1}, {3, 127}, {13, 3, 7}, {1, 13, 1}})
      for (int axis = -static_cast<int>(shape.size()); axis < static_cast<int>(shape.size()); ++axis) {
        GraphBuilder b(opset);
        int x = b.input("X", shape);
        int y = b.node("Softmax", {x}, {{"axis", attr_i(axis)}});
        b.finish({y});
        auto X = random_vec(numel(shape), seed++, -20.f, 20.f);
        Executor ex(b.g);
        ex.prepare({{x, shape}});
        std::copy(X.begin(), X.end(), ex.data(x));
        ex.run();
        expect_close(
            reference(b.g, shape, X, y), ex.data(y), 1e-5,
            "opset " + std::to_string(opset) + " axis " + std::to_string(axis) + " shape " + ir::shape_str(shape));
      }
}

TEST(SoftmaxKernel, RefusesAxisOutOfRange) {
  GraphBuilder b;
  int x = b.input("X", {2, 3});
  int y = b.node("Softmax", {x}, {{"axis", attr_i(2)}});
  try {
    b.finish({y});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("axis 2 is out of range for an input of rank 2"), std::string::npos)
        << e.what();
  }
}

// A shape chain of the kind PyTorch exports for `x.view(b, h * w, -1)`: Shape, then Mul, Div, Sub and Add on its
// int64 values, feeding Reshape. The arithmetic folds when the plan is made, for the plan's shapes: the Reshape's
// output shape follows from it, and the folded values sit in their buffers before any step runs.
TEST(ShapeChain, ArithmeticFoldsIntoReshape) {
  GraphBuilder b;
  auto ints = [&](const std::string& name, std::vector<int64_t> v) {
    const int id = b.int_const(name, std::move(v));
    b.g.values[id].dtype = DType::Int64;
    return id;
  };
  const int x = b.input("X", {ir::kUnknown, 6, 4});
  const int s = b.node("Shape", {x});                        // (b, 6, 4)
  const int m = b.node("Mul", {s, ints("m", {1, 4, 2})});    // (b, 24, 8)
  const int d = b.node("Div", {m, ints("d", {1, 1, 8})});    // (b, 24, 1)
  const int u = b.node("Sub", {d, ints("u", {0, 0, 2})});    // (b, 24, -1)
  const int a = b.node("Add", {u, ints("a", {0, -1, 0})});   // (b, 23, -1)
  const int t = b.node("Add", {a, ints("one", {0, 1, 0})});  // (b, 24, -1)
  const int y = b.node("Reshape", {x, t});
  b.finish({y});
  Executor ex(b.g);
  ex.prepare({{x, {5, 6, 4}}});
  EXPECT_EQ(ex.shape(y), (ir::Shape{5, 24, 1}));
  const auto* folded = static_cast<const int64_t*>(ex.bytes(t));
  EXPECT_EQ(std::vector<int64_t>(folded, folded + 3), (std::vector<int64_t>{5, 24, -1}));
  const auto* q = static_cast<const int64_t*>(ex.bytes(d));
  EXPECT_EQ(std::vector<int64_t>(q, q + 3), (std::vector<int64_t>{5, 24, 1}));
  ex.prepare({{x, {2, 6, 4}}});  // another batch: the chain folds again
  EXPECT_EQ(ex.shape(y), (ir::Shape{2, 24, 1}));
  std::vector<float> X(48);
  for (size_t i = 0; i < X.size(); ++i) X[i] = static_cast<float>(i);
  std::copy(X.begin(), X.end(), ex.data(x));
  ex.run();
  EXPECT_EQ(std::vector<float>(ex.data(y), ex.data(y) + 48), X);
}

// The executor compiles once per set of input shapes and keeps each plan.
TEST(Executor, RecompilesOnlyOnShapeChange) {
  GraphBuilder b;
  int x = b.input("X", {-1, 5});
  int w = b.param("W", {5, 2}, random_vec(10, 9));
  int y = b.node("Gemm", {x, w});
  b.finish({y});
  Executor ex(b.g);
  EXPECT_TRUE(ex.prepare({{x, {4, 5}}}));
  EXPECT_FALSE(ex.prepare({{x, {4, 5}}}));
  EXPECT_TRUE(ex.prepare({{x, {7, 5}}}));
  EXPECT_EQ(ex.shape(y), (ir::Shape{7, 2}));
  EXPECT_FALSE(ex.prepare({{x, {4, 5}}}));  // the first plan is kept
  EXPECT_EQ(ex.shape(y), (ir::Shape{4, 2}));
  EXPECT_EQ(ex.plans(), 2u);
}

}  // namespace
