// Every registered ONNX op, tested because it is registered: on each case its file declares (OpDef::cases), its
// oneDNN kernel against its double reference, and its gradient rule against central differences of that reference.
// A new op needs no test here, only its cases; an op without them fails OpDef.DeclaresCasesAtEachVersion.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "onnxtrain/model.h"
#include "runtime/autodiff/autodiff.h"
#include "runtime/check/reference.h"
#include "support/graph_builder.h"

using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

std::vector<std::string> onnx_ops() {
  std::vector<std::string> names;
  for (const ops::OpDef& op : ops::all_ops())
    if (!op.internal) names.push_back(op.type);
  return names;
}

// The op's version in effect at a model opset: its largest since-version <= opset, 0 for none.
int version_at(const ops::OpDef& op, int opset) {
  int v = 0;
  for (int s : op.versions)
    if (s <= opset) v = s;
  return v;
}

std::string attr_str(const ir::Attr& a) {
  switch (a.kind) {
    case ir::Attr::Int: return std::to_string(a.i);
    case ir::Attr::Float: return std::to_string(a.f);
    case ir::Attr::Ints: return ir::shape_str(a.ints);
    default: return "?";
  }
}

// "Gemm opset 7 (3,5) (7,5) (1,7) alpha=0.7 transB=1": what a failure names.
std::string describe(const ops::OpDef& op, const ops::OpCase& c) {
  std::string s = std::string(op.type) + " opset " + std::to_string(c.opset);
  for (const ir::Shape& shape : c.shapes) s += " " + ir::shape_str(shape);
  for (const auto& ints : c.ints) s += " ints " + ir::shape_str(ints);
  for (const auto& [name, a] : c.attrs) s += " " + name + "=" + attr_str(a);
  return s;
}

// Moves values off a rectifier's kink at 0, so that central differences do not straddle it (Kink tests it exactly).
std::vector<float> away_from_zero(std::vector<float> v) {
  for (float& x : v)
    if (std::fabs(x) < 0.05f) x = x < 0 ? -0.05f : 0.05f;
  return v;
}

// A case as a one-node graph. The reference feeds the graph one input, x: the first float input (first_is_input), or
// else a placeholder (1) that nothing reads, every float input then a parameter, so that each gets a gradient.
struct Built {
  explicit Built(int opset) : b(opset) {}
  GraphBuilder b;
  int x = -1;
  ir::Shape x_shape;
  std::vector<float> X;
  std::vector<int> params;
  int y = -1;
};

void build(Built& t, const ops::OpDef& op, const ops::OpCase& c, bool first_is_input) {
  std::vector<int> inputs;
  size_t f = 0, i = 0;
  for (size_t k = 0;; ++k) {
    const std::string name = "in" + std::to_string(k);
    if (op.int_input(k)) {
      if (i == c.ints.size()) break;
      inputs.push_back(t.b.int_const(name, c.ints[i++]));
      continue;
    }
    if (f == c.shapes.size()) break;
    const ir::Shape& shape = c.shapes[f++];
    std::vector<float> data = random_vec(static_cast<size_t>(numel(shape)), static_cast<uint32_t>(17 + 31 * k),
                                         c.positive ? 0.5f : -2.f, 2.f);
    if (op.rectifier_slope) data = away_from_zero(std::move(data));
    if (k == 0 && first_is_input) {
      t.x = t.b.input(name, shape);
      t.x_shape = shape;
      t.X = std::move(data);
      inputs.push_back(t.x);
    } else {
      t.params.push_back(t.b.param(name, shape, std::move(data)));
      inputs.push_back(t.params.back());
    }
  }
  if (t.x < 0) {
    t.x_shape = {1};
    t.X = {0.f};
    t.x = t.b.input("placeholder", t.x_shape);
  }
  t.y = t.b.node(op.type, inputs, c.attrs);
  t.b.finish({t.y});
}

class RegisteredOp : public ::testing::TestWithParam<std::string> {
 protected:
  const ops::OpDef& op() const { return *ops::find_op(GetParam()); }
};

// Each declared case names a version the op has, and each version has a case: a new op cannot go in untested, nor a
// new version of an old one.
TEST_P(RegisteredOp, DeclaresCasesAtEachVersion) {
  ASSERT_FALSE(op().cases.empty()) << op().type << " declares no test cases (OpDef::cases, beside its OpDef)";
  std::set<int> tested;
  for (const ops::OpCase& c : op().cases) {
    const int v = version_at(op(), c.opset);
    EXPECT_GT(v, 0) << describe(op(), c) << ": below the op's first version";
    tested.insert(v);
  }
  for (int v : op().versions) EXPECT_TRUE(tested.count(v)) << op().type << "-" << v << " has no case";
}

// Y from the kernel against Y from the reference, to float32 rounding.
void check_kernel(const ops::OpDef& op) {
  for (const ops::OpCase& c : op.cases) {
    SCOPED_TRACE(describe(op, c));
    Built t(c.opset);
    build(t, op, c, true);
    Executor ex(t.b.g);
    ex.prepare({{t.x, t.x_shape}});
    std::copy(t.X.begin(), t.X.end(), ex.data(t.x));
    ex.run();
    check::ReferenceForward ref(t.b.g, Tensor::f32_of(t.x_shape, t.X));
    ref.run_all();
    const ops::RefTensor& want = ref.value(t.y);
    ASSERT_EQ(ex.shape(t.y), want.shape);
    const DType dtype = t.b.g.values[t.y].dtype;
    for (size_t e = 0; e < want.data.size(); ++e) {
      if (dtype == DType::Int64) {  // a shape chain's integers, exactly
        ASSERT_EQ(static_cast<const int64_t*>(ex.bytes(t.y))[e], want.data[e]) << "Y[" << e << "]";
        continue;
      }
      ASSERT_EQ(dtype, DType::Float32);
      const float got = ex.data(t.y)[e];
      ASSERT_NEAR(got, want.data[e], 1e-5 * (1 + std::fabs(want.data[e]))) << "Y[" << e << "]";
    }
  }
}
TEST_P(RegisteredOp, KernelMatchesReference) { check_kernel(op()); }

// L = mean((Y - T)^2) over a random target T. Each input's gradient from autodiff and the backward kernels (float32)
// against central differences of L through the reference, in double: dX[i] = (L(X + h e_i) - L(X - h e_i)) / 2h.
void check_gradient(const ops::OpDef& op) {
  for (const ops::OpCase& c : op.cases) {
    SCOPED_TRACE(describe(op, c));
    Built t(c.opset);
    build(t, op, c, false);
    ASSERT_FALSE(t.params.empty());
    const ir::Graph fwd = t.b.g;  // the forward graph, for the reference: add_training rewrites the builder's
    const ir::Shape y_shape = fwd.values[t.y].shape;
    const std::vector<float> T = random_vec(static_cast<size_t>(numel(y_shape)), 99, -1.f, 1.f);
    auto training = autodiff::add_training(t.b.g, autodiff::Loss::MSE, {});
    ASSERT_EQ(std::set<int>(training.trainable.begin(), training.trainable.end()),
              std::set<int>(t.params.begin(), t.params.end()));
    Executor ex(t.b.g);
    ex.prepare({{t.x, t.x_shape}, {training.target, y_shape}});
    std::copy(t.X.begin(), t.X.end(), ex.data(t.x));
    std::copy(T.begin(), T.end(), ex.data(training.target));
    ex.run();

    check::ReferenceForward ref(fwd, Tensor::f32_of(t.x_shape, t.X));
    ref.run_all();
    const auto loss = [&] {
      const std::vector<double>& y = ref.value(t.y).data;
      double sum = 0;
      for (size_t e = 0; e < y.size(); ++e) sum += (y[e] - T[e]) * (y[e] - T[e]);
      return sum / double(y.size());
    };
    for (int p : t.params) {
      const float* analytic = ex.grads() + t.b.g.values[p].offset;
      const std::vector<size_t> after = ref.downstream(p);
      std::vector<double>& v = ref.value(p).data;
      for (size_t i = 0; i < v.size(); ++i) {
        const double h = 1e-6, orig = v[i];
        v[i] = orig + h;
        ref.run(after);
        const double plus = loss();
        v[i] = orig - h;
        ref.run(after);
        const double minus = loss();
        v[i] = orig;
        const double numeric = (plus - minus) / (2 * h);
        ASSERT_NEAR(analytic[i], numeric, 2e-3 * (1 + std::fabs(numeric)))
            << "d" << fwd.values[p].name << "[" << i << "]";
      }
      ref.run(after);
    }
  }
}
TEST_P(RegisteredOp, GradientMatchesCentralDifferences) {
  if (!op().gradient) GTEST_SKIP() << op().type << " has no gradient rule";
  check_gradient(op());
}

INSTANTIATE_TEST_SUITE_P(Registry, RegisteredOp, ::testing::ValuesIn(onnx_ops()),
                         [](const auto& info) { return info.param; });

// The gradient check can fail: Tanh's rule swapped for dX = dY (the derivative 1 - Y^2 dropped) is caught, naming
// the input.
void check_tanh_gradient() { check_gradient(*ops::find_op("Tanh")); }
TEST(RegisteredOpHarness, CatchesAWrongGradientRule) {
  const ops::GradientFn wrong = [](ops::GradBuilder& b, const ir::Node& n) {
    b.set_dX(n, 0, b.emit("Identity", {b.dY(n, 0)}));
  };
  const ops::GradientFn real = ops::replace_gradient_for_testing("Tanh", wrong);
  EXPECT_FATAL_FAILURE(check_tanh_gradient(), "din0[");
  ops::replace_gradient_for_testing("Tanh", real);
  check_tanh_gradient();  // and passes again with the real rule
}

// docs/models.md's table of supported ops is the one hand-written list of them: a row an op, its opsets as the
// registry has them (info --ops prints the same), none missing and none extra. The README names no op, so that a new op
// is documented in that one row.
TEST(SupportedOpsTable, MatchesTheRegistry) {
  std::ifstream f(std::string(ONNXTRAIN_SOURCE_DIR) + "/docs/models.md");
  ASSERT_TRUE(f) << "docs/models.md";
  std::map<std::string, std::string> rows;  // op -> its opsets cell
  bool in_table = false;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("## ", 0) == 0) in_table = line == "## Supported ops";
    if (!in_table || line.rfind("| ", 0) != 0 || line.rfind("| op ", 0) == 0) continue;
    std::stringstream cells(line.substr(2));
    std::string op, opsets;
    std::getline(cells, op, '|');
    std::getline(cells, opsets, '|');
    auto trim = [](const std::string& s) {
      const size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
      return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
    };
    rows[trim(op)] = trim(opsets);
  }
  std::map<std::string, std::string> want;
  for (const OpSupport& op : supported_ops())
    want[op.op_type] = std::to_string(op.first_opset) + "\u2013" + std::to_string(op.last_opset);  // an en dash
  EXPECT_EQ(rows, want) << "docs/models.md's table under '## Supported ops' against the registry";
}

}  // namespace
