// Each ONNX op's double reference (the `reference` beside its kernel, what gradcheck differentiates) against the
// op's oneDNN forward kernel: two independent implementations that must agree to float32 rounding, on odd shapes and
// every attribute and opset form the ops accept. And: every ONNX op has a reference.
#include <gtest/gtest.h>

#include <cmath>

#include "support/graph_builder.h"
#include "runtime/check/reference.h"

using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

ir::Attr ints(std::vector<int64_t> v) {
  ir::Attr a;
  a.kind = ir::Attr::Ints;
  a.ints = std::move(v);
  return a;
}

// Runs the finished graph's single input x through the kernels and the references; compares output y.
void expect_agree(GraphBuilder& b, int x, const ir::Shape& shape, int y, uint32_t seed, const std::string& what,
                  float lo = -2.f, float hi = 2.f) {
  const std::vector<float> X = random_vec(static_cast<size_t>(numel(shape)), seed, lo, hi);
  Executor ex(b.g);
  ex.prepare({{x, shape}});
  std::copy(X.begin(), X.end(), ex.data(x));
  ex.run();
  check::ReferenceForward ref(b.g, Tensor::f32_of(shape, X));
  ref.run_all();
  const ops::RefTensor& want = ref.value(y);
  ASSERT_EQ(want.shape, ex.shape(y)) << what;
  const float* got = ex.data(y);
  for (size_t i = 0; i < want.data.size(); ++i)
    ASSERT_NEAR(got[i], want.data[i], 1e-5 * (1 + std::fabs(want.data[i]))) << what << " at " << i;
}

TEST(References, EveryOnnxOpHasOne) {
  for (const ops::OpDef& op : ops::all_ops())
    if (!op.internal) {
      EXPECT_NE(op.reference, nullptr) << op.type;
    }
}

TEST(References, GemmAgreesWithTheKernel) {
  const int64_t M = 3, K = 13, N = 7;
  const std::vector<ir::Shape> c_shapes = {{}, {1}, {N}, {1, N}, {M, 1}, {M, N}};
  uint32_t seed = 1;
  for (bool tA : {false, true})
    for (bool tB : {false, true})
      for (float alpha : {1.f, 0.5f})
        for (float beta : {1.f, 0.f, -2.f})
          for (int c = -1; c < static_cast<int>(c_shapes.size()); ++c) {
            GraphBuilder b;
            const ir::Shape as = tA ? ir::Shape{K, M} : ir::Shape{M, K};
            int a = b.input("A", as);
            int bb = b.param("B", tB ? ir::Shape{N, K} : ir::Shape{K, N}, random_vec(K * N, seed++));
            std::vector<int> in = {a, bb};
            if (c >= 0) in.push_back(b.param("C", c_shapes[c], random_vec(numel(c_shapes[c]), seed++)));
            int y = b.node(
                "Gemm", in,
                {{"transA", attr_i(tA)}, {"transB", attr_i(tB)}, {"alpha", attr_f(alpha)}, {"beta", attr_f(beta)}});
            b.finish({y});
            expect_agree(b, a, as, y, seed++,
                         "tA " + std::to_string(tA) + " tB " + std::to_string(tB) + " alpha " + std::to_string(alpha) +
                             " beta " + std::to_string(beta) + " C " + (c >= 0 ? ir::shape_str(c_shapes[c]) : "none"));
          }
}

TEST(References, ElementwiseOpsAgreeWithTheKernels) {
  uint32_t seed = 40;
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Identity"})
    for (const ir::Shape& s : std::vector<ir::Shape>{{1}, {3, 127}, {13, 1, 7}}) {
      GraphBuilder b;
      int x = b.input("X", s);
      int y = b.node(op, {x});
      b.finish({y});
      expect_agree(b, x, s, y, seed++, std::string(op) + " " + ir::shape_str(s), -20.f, 20.f);
    }
  for (float alpha : {0.01f, 0.3f, -0.2f, 1.7f}) {
    GraphBuilder b;
    int x = b.input("X", {13, 7});
    int y = b.node("LeakyRelu", {x}, {{"alpha", attr_f(alpha)}});
    b.finish({y});
    expect_agree(b, x, {13, 7}, y, seed++, "LeakyRelu alpha " + std::to_string(alpha));
  }
}

TEST(References, SoftmaxAndLogSoftmaxAgreeAtEveryAxisAndOpset) {
  uint32_t seed = 60;
  for (const char* op : {"Softmax", "LogSoftmax"})
    for (int opset : {1, 11, 13})
      for (const ir::Shape& s : std::vector<ir::Shape>{{3, 127}, {13, 3, 7}, {1, 13, 1}})
        for (int axis = -static_cast<int>(s.size()); axis < static_cast<int>(s.size()); ++axis) {
          GraphBuilder b(opset);
          int x = b.input("X", s);
          int y = b.node(op, {x}, {{"axis", attr_i(axis)}});
          b.finish({y});
          expect_agree(b, x, s, y, seed++,
                       std::string(op) + " opset " + std::to_string(opset) + " axis " + std::to_string(axis) + " " +
                           ir::shape_str(s),
                       -20.f, 20.f);
        }
}

TEST(References, ShapeOpsAgreeWithTheKernels) {
  uint32_t seed = 80;
  const ir::Shape s = {2, 3, 4, 5};
  for (int64_t axis : {0, 1, 2, 4, -1}) {
    GraphBuilder b;
    int x = b.input("X", s);
    int y = b.node("Flatten", {x}, {{"axis", attr_i(axis)}});
    b.finish({y});
    expect_agree(b, x, s, y, seed++, "Flatten axis " + std::to_string(axis));
  }
  for (const std::vector<int64_t>& want : std::vector<std::vector<int64_t>>{{0, -1}, {-1}, {4, 0, -1}, {5, 4, 3, 2}}) {
    GraphBuilder b;
    int x = b.input("X", s);
    int y = b.node("Reshape", {x, b.int_const("shape", want)});
    b.finish({y});
    expect_agree(b, x, s, y, seed++, "Reshape " + ir::shape_str(want));
  }
  const ir::Shape ones = {1, 3, 1, 5};
  for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{0}, {-2, 0}, {}}) {
    GraphBuilder b;
    int x = b.input("X", ones);
    int y = axes.empty() ? b.node("Squeeze", {x}) : b.node("Squeeze", {x, b.int_const("axes", axes)});
    b.finish({y});
    expect_agree(b, x, ones, y, seed++, "Squeeze " + ir::shape_str(axes));
  }
  for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{0}, {4, 1}, {-1, -6}}) {
    GraphBuilder b;
    int x = b.input("X", s);
    int y = b.node("Unsqueeze", {x, b.int_const("axes", axes)});
    b.finish({y});
    expect_agree(b, x, s, y, seed++, "Unsqueeze " + ir::shape_str(axes));
  }
  for (const std::vector<int64_t>& perm :
       std::vector<std::vector<int64_t>>{{2, 0, 1, 3}, {3, 2, 1, 0}, {0, 1, 2, 3}, {}}) {
    GraphBuilder b;
    int x = b.input("X", s);
    int y = perm.empty() ? b.node("Transpose", {x}) : b.node("Transpose", {x}, {{"perm", ints(perm)}});
    b.finish({y});
    expect_agree(b, x, s, y, seed++, "Transpose " + (perm.empty() ? std::string("default") : ir::shape_str(perm)));
  }
}

TEST(References, MatMulAndAddBroadcastAsTheKernelsDo) {
  uint32_t seed = 100;
  struct Case {
    ir::Shape a, b;
  };
  for (const Case& c : std::vector<Case>{{{3, 4}, {4, 5}},
                                         {{2, 3, 4, 5}, {5, 6}},
                                         {{1, 3, 4, 5}, {2, 1, 5, 6}},
                                         {{4, 5}, {2, 3, 5, 6}},
                                         {{1, 2, 3}, {4, 3, 2}},
                                         {{5}, {5, 6}},
                                         {{5}, {2, 5, 3}},
                                         {{3, 5}, {5}},
                                         {{2, 3, 5}, {5}},
                                         {{5}, {5}}}) {
    GraphBuilder b;
    int x = b.input("A", c.a);
    int y = b.node("MatMul", {x, b.param("B", c.b, random_vec(numel(c.b), seed++))});
    b.finish({y});
    expect_agree(b, x, c.a, y, seed++, "MatMul " + ir::shape_str(c.a) + " @ " + ir::shape_str(c.b));
  }
  for (const Case& c :
       std::vector<Case>{{{3, 1, 5}, {4, 1}}, {{2, 3}, {}}, {{4}, {3, 4}}, {{2, 3, 4}, {2, 3, 4}}, {{3, 1}, {1, 4}}}) {
    GraphBuilder b;
    int x = b.input("A", c.a);
    int y = b.node("Add", {x, b.param("B", c.b, random_vec(numel(c.b), seed++))});
    b.finish({y});
    expect_agree(b, x, c.a, y, seed++, "Add " + ir::shape_str(c.a) + " + " + ir::shape_str(c.b));
  }
}

// Outside training, Dropout is the identity, in the kernel and in the reference.
TEST(References, DropoutIsTheIdentityAtInference) {
  for (int opset : {7, 13}) {
    GraphBuilder b(opset);
    int x = b.input("X", {13, 7});
    int y = b.node(
        "Dropout", {x},
        opset < 12 ? std::map<std::string, ir::Attr>{{"ratio", attr_f(0.3f)}} : std::map<std::string, ir::Attr>{});
    b.finish({y});
    expect_agree(b, x, {13, 7}, y, 120 + opset, "Dropout opset " + std::to_string(opset));
  }
}

}  // namespace
