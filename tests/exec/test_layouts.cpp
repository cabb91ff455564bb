// The plan's layouts (runtime/exec/executor.cpp, CompileCtx::layout): in the bundled CNN the convolutions, Relus and
// pools keep their activations in oneDNN's blocked layouts from one to the next, while graph outputs and the ops
// without OpDef::layouts see plain ones; every value, blocked or not, reads back (Executor::bytes) as the double
// reference computes it; and the training graph's gradients through those layouts match central differences.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "onnxtrain/gradcheck.h"
#include "onnxtrain/model.h"
#include "runtime/check/reference.h"
#include "runtime/exec/executor.h"
#include "runtime/model_impl.h"
#include "support/graph_builder.h"

using namespace onnxtrain;

namespace {

const std::string kCnn = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_cnn.onnx";

Tensor images(int64_t n, uint32_t seed) {
  return Tensor::f32_of({n, 1, 28, 28}, onnxtrain::testing::random_vec(static_cast<size_t>(n * 784), seed, 0.f, 1.f));
}

TEST(Layouts, TheBundledCnnKeepsItsConvolutionalPartBlockedAndReadsBackAsTheReference) {
  Model m = Model::load(kCnn);
  const ir::Graph& g = m.impl().graph;
  const Tensor x = images(5, 1);
  Executor ex(g);
  ex.prepare({{g.inputs[0], x.shape}});
  ex.bind_input(g.inputs[0], x.f32.data());
  ex.run();
  check::ReferenceForward ref(g, x);
  ref.run_all();
  int blocked = 0;
  for (const ir::Node& n : g.nodes) {
    const int v = n.outputs[0];
    // Conv, the Relu and MaxPool after each: blocked. Flatten (which reorders), the Linear layers, the output: plain.
    const bool conv_part = n.op_type == "Conv" || n.op_type == "MaxPool" ||
                           (n.op_type == "Relu" && g.nodes[g.values[n.inputs[0]].producer].op_type == "Conv");
    EXPECT_EQ(ex.blocked(v), conv_part) << n.label();
    blocked += ex.blocked(v);
    const float* got = ex.data(v);
    const std::vector<double>& want = ref.value(v).data;
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::fabs(want[i]))) << n.label() << " element " << i;
  }
  EXPECT_EQ(blocked, 6);
}

TEST(Layouts, GradientsThroughTheBlockedLayoutsMatchCentralDifferences) {
  Model m = Model::load(kCnn);
  const Tensor x = images(3, 2);
  const Tensor y = Tensor::i64_of({3}, {1, 7, 4});
  GradcheckOptions o;
  o.elements = 40;
  o.threads = 1;
  GradcheckReport r = gradcheck(m, x, y, o);
  EXPECT_TRUE(r.pass()) << r.params.size();
  ASSERT_EQ(r.params.size(), 8u);
  for (const ParamCheck& p : r.params) {
    EXPECT_TRUE(p.has_gradient) << p.name;
    EXPECT_GT(p.checked, 0) << p.name;
  }
}

}  // namespace
