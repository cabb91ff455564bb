// ONNX conformance: every backend node test of ONNX 1.12 for the ops we run (generated from python3-onnx's case
// definitions), our old-opset cases (NumPy references, or ONNX's node tests made at the older version), and our typed
// cases. Each case runs through `onnxtrain test` (the library's run_backend_test, include/onnxtrain/backend_test.h):
// model.onnx fed test_data_set_*/input_*.pb and compared with output_*.pb. Which cases run
// follows from the op registry: a test per registered op runs every case named after it (test_<op>[_...]), and
// checks that the cases reach each of the op's versions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"
#include "onnxtrain/train.h"
#include "runtime/ops/op.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;

namespace {

const std::string kNodeDir = std::string(ONNXTRAIN_TEST_DATA) + "/onnx_node/node";
const std::string kOldDir = std::string(ONNXTRAIN_TEST_DATA) + "/old_opsets";

// The ONNX ops of the registry.
std::vector<std::string> onnx_ops(bool typed_only = false) {
  std::vector<std::string> names;
  for (const ops::OpDef& op : ops::all_ops())
    if (!op.internal && (!typed_only || op.types)) names.push_back(op.type);
  return names;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "ReduceMean" -> "reduce_mean": how ONNX names some ops' tests (test_reduce_mean_*), where others run the words
// together (test_leakyrelu).
std::string snake(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && std::isupper(static_cast<unsigned char>(s[i]))) out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  }
  return out;
}

// What ONNX names the node tests of the few ops whose tests follow neither spelling (make_old_opset_tests.py's STEMS
// holds the same table).
const std::map<std::string, std::vector<std::string>> kStems = {
    {"BatchNormalization", {"batchnorm"}},
    {"Conv", {"basic_conv"}},
    {"Pad", {"constant_pad", "edge_pad", "reflect_pad", "wrap_pad"}}};

// The cases in dir named after op: test_<op in lower case> or test_<op in snake case> (or kStems'), alone or followed
// by _...,
// ONNX's expanded function tests apart (they run other ops), and only those whose model runs op (test_reduce_sum_square
// is ReduceSumSquare's, not ReduceSum's). Sorted, for a stable order.
std::vector<std::string> cases_of(const std::string& dir, const std::string& op) {
  std::set<std::string> stems = {"test_" + lower(op), "test_" + snake(op)};
  if (auto it = kStems.find(op); it != kStems.end())
    for (const std::string& s : it->second) stems.insert("test_" + s);
  std::vector<std::string> found;
  if (!fs::is_directory(dir)) return found;
  for (auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename();
    bool named = false;
    for (const std::string& stem : stems) named = named || name == stem || name.rfind(stem + "_", 0) == 0;
    if (!named || name.find("_expanded") != std::string::npos) continue;
    // The one exclusion: tests that need STRING tensors (Cast to and from STRING), which onnxtrain does not hold.
    if (name.find("_STRING") != std::string::npos) continue;
    if (fs::exists(e.path() / "model.onnx")) {
      const ModelInfo info = Model::describe((e.path() / "model.onnx").string());
      if (std::none_of(info.nodes.begin(), info.nodes.end(), [&](const auto& n) { return n.op_type == op; })) continue;
    }
    found.push_back(name);
  }
  std::sort(found.begin(), found.end());
  return found;
}

// The version of op in effect in a case's model: the op's newest since-version not above the model's opset.
int version_in(const std::string& model, const std::string& op) {
  int64_t opset = 0;
  for (const auto& [domain, version] : Model::describe(model).opsets)
    if (domain.empty() || domain == "ai.onnx") opset = version;
  int v = 0;
  for (int s : ops::find_op(op)->versions)
    if (s <= opset) v = s;
  return v;
}

// python3-onnx 1.12 makes models up to opset 17; the versions after it (Flatten-21, Reshape-19, ...) are tested by
// tests/ops/test_registered_ops.cpp alone.
constexpr int kOnnxPackageOpset = 17;

// The cases in dir run through `onnxtrain test` (the library's run_backend_test, as a user runs a conformance suite):
// every one must pass, within float32 rounding (atol 1e-6, rtol 1e-5: tighter than onnx's runner, 1e-7 and 1e-3),
// integers exactly. On a failure the command's line for each failing case is the message.
void run_cases(const std::string& dir, const std::vector<std::string>& cases) {
  if (cases.empty()) return;
  std::string args = "test --atol 1e-6 --rtol 1e-5";
  for (const std::string& c : cases) args += " " + dir + "/" + c;
  const onnxtrain::testing::Outcome r = onnxtrain::testing::cli(args);
  std::string failures;
  for (size_t at = 0, end; at < r.out.size(); at = end + 1) {
    end = r.out.find('\n', at);
    if (end == std::string::npos) end = r.out.size();
    if (r.out.compare(at, 4, "FAIL") == 0) failures += r.out.substr(at, end - at) + "\n";
  }
  EXPECT_EQ(r.code, 0) << failures << r.err;
  EXPECT_NE(r.out.find(std::to_string(cases.size()) + " passed, 0 failed"), std::string::npos) << r.out << r.err;
}

const std::string kTypedDir = std::string(ONNXTRAIN_TEST_DATA) + "/typed";
// Cases made by tests/conformance/make_typed_tests.py: values that are not float32 tensors, expected values from
// NumPy (PyTorch for bfloat16). A test per op that takes them (OpDef::types) runs its cases.
class TypedTest : public ::testing::TestWithParam<std::string> {};
TEST_P(TypedTest, MatchesReference) {
  const auto cases = cases_of(kTypedDir, GetParam());
  EXPECT_FALSE(cases.empty()) << GetParam() << " takes other types than float32 but has no typed case";
  run_cases(kTypedDir, cases);
}
INSTANTIATE_TEST_SUITE_P(Typed, TypedTest, ::testing::ValuesIn(onnx_ops(true)),
                         [](const auto& info) { return info.param; });

// Every typed case the script makes is one of an op that takes other types, so none goes unrun.
TEST(TypedList, EveryCaseIsRun) {
  ASSERT_TRUE(fs::is_directory(kTypedDir));
  std::set<std::string> run;
  for (const std::string& op : onnx_ops(true))
    for (const std::string& c : cases_of(kTypedDir, op)) run.insert(c);
  int n = 0;
  for (auto& e : fs::directory_iterator(kTypedDir)) {
    if (e.path().filename() == "bad") continue;
    ++n;
    EXPECT_TRUE(run.count(e.path().filename())) << e.path().filename() << " is generated but not run";
  }
  EXPECT_GT(n, 0);
}

// Types an op does not take are refused at load, in one line naming the node or the input and the type.
TEST(TypedRefusals, NameTheInputAndItsType) {
  int n = 0;
  for (auto& e : fs::directory_iterator(kTypedDir + "/bad")) {
    ++n;
    const std::string says = onnxtrain::testing::slurp((e.path() / "says.txt").string());
    ASSERT_FALSE(says.empty()) << e.path();
    try {
      Model::load(e.path() / "model.onnx");
      ADD_FAILURE() << e.path() << " loaded";
    } catch (const Error& err) {
      const std::string msg = err.what();
      EXPECT_NE(msg.find(says), std::string::npos) << e.path() << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  EXPECT_EQ(n, 10);
}

// run() is for tensors; a model with a sequence says so, naming it, and run_values checks each value's type.
TEST(TypedSession, SequencesGoThroughRunValuesAndAreChecked) {
  Model model = Model::load(kTypedDir + "/test_identity_sequence_shapes/model.onnx");
  EXPECT_EQ(model.info().inputs[0].dtype, "sequence(float32)");
  EXPECT_EQ(static_cast<int>(model.info().inputs[0].kind), static_cast<int>(Value::Kind::Sequence));
  InferenceSession session(model);
  auto says = [&](auto&& call, const std::string& what) {
    try {
      call();
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  says(
      [&] {
        session.run({{"x", Tensor::f32_of({1}, {1.f})}});
      },
      "input 'x' is sequence(float32); feed it through run_values");
  says(
      [&] {
        session.run_values({{"x", Value::of(Tensor::f32_of({1}, {1.f}))}});
      },
      "input 'x' is sequence(float32) but the value given is float32");
  Value seq;
  seq.kind = Value::Kind::Sequence;
  seq.elements = {Value::of(Tensor::f32_of({2}, {1.f, 2.f})), Value::of(Tensor::i64_of({1}, {3}))};
  says(
      [&] {
        session.run_values({{"x", seq}});
      },
      "input 'x' is sequence(float32) but the value given is sequence(float32)");
  says([&] { session.run_values({}); }, "input 'x' was not given any data");
  seq.elements.pop_back();
  auto out = session.run_values({{"x", seq}});
  ASSERT_EQ(out.at("y").elements.size(), 1u);
  EXPECT_EQ(out.at("y").elements[0].tensor.f32, (std::vector<float>{1.f, 2.f}));
}

// A typed tensor must come in its input's dtype; training feeds inputs of any dtype, but refuses a typed output.
TEST(TypedSession, TensorsMustHaveTheirInputsDtype) {
  Model model = Model::load(kTypedDir + "/test_add_uint16_initializer/model.onnx");
  const ModelInfo info = model.info();  // the typed initializer is listed, with its dtype, and not counted as trained
  ASSERT_EQ(info.initializers.size(), 1u);
  EXPECT_EQ(info.initializers[0].name, "b");
  EXPECT_EQ(info.initializers[0].dtype, "uint16");
  EXPECT_FALSE(info.initializers[0].trainable);
  EXPECT_EQ(info.total_params, 0);
  EXPECT_EQ(info.inputs[0].dtype, "uint16");
  InferenceSession session(model);
  try {
    session.run({{"a", Tensor::f32_of({2, 3}, std::vector<float>(6, 1.f))}});
    ADD_FAILURE() << "accepted float32 data for a uint16 input";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 'a' is uint16 but the data is float32"), std::string::npos) << e.what();
  }
  try {
    session.run({{"a", Tensor::bytes_of(DType::UInt16, {2, 3}, std::vector<uint8_t>(10))}});
    ADD_FAILURE() << "accepted 5 values for shape (2,3)";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 'a' has 5 values for shape (2,3)"), std::string::npos) << e.what();
  }
  try {
    const TrainOptions options;  // a named object: GCC 12 warns of an uninitialized string in a temporary here
    TrainingSession train(model, options);
    ADD_FAILURE() << "a uint16 model trains";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("output 'y' is uint16; training computes its loss on float32 tensors"),
              std::string::npos)
        << e.what();
  }
}

// Every ONNX 1.12 node test of each registered op.
class NodeTest : public ::testing::TestWithParam<std::string> {};
TEST_P(NodeTest, MatchesReference) {
  const auto cases = cases_of(kNodeDir, GetParam());
  EXPECT_FALSE(cases.empty()) << "python3-onnx made no node test named after " << GetParam();
  run_cases(kNodeDir, cases);
}
INSTANTIATE_TEST_SUITE_P(Onnx112, NodeTest, ::testing::ValuesIn(onnx_ops()),
                         [](const auto& info) { return info.param; });

// A Reshape whose shape is fed at run time: each new shape value gets its plan, a repeated one reuses it, and bad
// shapes are one-line errors naming the node or the input.
TEST(RuntimeReshape, FollowsEachFedShapeAndRefusesBadOnes) {
  Model model = Model::load(kNodeDir + "/test_reshape_negative_dim/model.onnx");  // data (2,3,4), shape (3) int64
  ASSERT_EQ(model.input_names().size(), 2u);
  const std::string data = model.input_names()[0], shape = model.input_names()[1];
  InferenceSession session(model);
  std::vector<float> x(24);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i) * 0.5f;
  const Tensor X = Tensor::f32_of({2, 3, 4}, x);
  for (const auto& [want, expect] : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{4, -1, 2}, {4, 3, 2}}, {{0, 12, 1}, {2, 12, 1}}, {{-1, 2, 2}, {6, 2, 2}}, {{4, -1, 2}, {4, 3, 2}}}) {
    auto out = session.run({{data, X}, {shape, Tensor::i64_of({3}, want)}});
    const Tensor& y = out.begin()->second;
    EXPECT_EQ(y.shape, expect);
    EXPECT_EQ(y.f32, x) << "a reshape keeps the elements in order";
  }
  auto refused = [&](const Tensor& s, const std::string& says) {
    try {
      session.run({{data, X}, {shape, s}});
      ADD_FAILURE() << "accepted a bad shape";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused(Tensor::i64_of({3}, {5, -1, 7}), "do not divide evenly");
  refused(Tensor::i64_of({3}, {-1, -1, 2}), "more than one -1");
  refused(Tensor::f32_of({3}, {2, 3, 4}), "must be a scalar or 1-D int64 tensor");
  refused(Tensor::i64_of({1, 3}, {2, 3, 4}), "must be a scalar or 1-D int64 tensor");
}

// Range's length comes from its fed values, a plan for each; bad ones are refused by name.
TEST(PlanValues, RangeFollowsItsFedBoundsAndRefusesBadOnes) {
  Model model = Model::load(kTypedDir + "/test_range_int32_down_opset11/model.onnx");
  InferenceSession session(model);
  const auto i32 = [](std::vector<int32_t> v, std::vector<int64_t> shape = {}) {
    std::vector<uint8_t> bytes(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return Tensor::bytes_of(DType::Int32, shape, bytes);
  };
  const auto range = [&](int32_t a, int32_t b, int32_t d) {
    const Tensor y = session.run({{"s", i32({a})}, {"l", i32({b})}, {"d", i32({d})}}).at("y");
    std::vector<int32_t> v(static_cast<size_t>(y.numel()));
    if (!v.empty()) std::memcpy(v.data(), y.bytes.data(), y.bytes.size());  // an empty range's bytes may be null
    return v;
  };
  EXPECT_EQ(range(0, 5, 2), (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(range(3, -3, -3), (std::vector<int32_t>{3, 0}));
  EXPECT_EQ(range(0, 5, -1), std::vector<int32_t>{});
  EXPECT_EQ(range(0, 5, 2), (std::vector<int32_t>{0, 2, 4}));  // the first plan again
  auto refused = [&](const Tensor& d, const std::string& says) {
    try {
      session.run({{"s", i32({0})}, {"l", i32({5})}, {"d", d}});
      ADD_FAILURE() << "accepted a bad delta";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused(i32({0}), "delta is 0");
  refused(i32({1, 2}, {2}), "input 'd' expects shape () but the data has shape (2)");
  refused(Tensor::i64_of({}, {1}), "input 'd' is read when the plan is made and must be a scalar or 1-D int32");
}

// Old-opset cases made by tests/conformance/make_old_opset_tests.py, with NumPy expected values or ONNX's node tests
// made at the older version.
class OldOpsetTest : public ::testing::TestWithParam<std::string> {};
TEST_P(OldOpsetTest, MatchesReference) { run_cases(kOldDir, cases_of(kOldDir, GetParam())); }
INSTANTIATE_TEST_SUITE_P(NumPy, OldOpsetTest, ::testing::ValuesIn(onnx_ops()),
                         [](const auto& info) { return info.param; });

// Each version of each op that python3-onnx can write a model for has a case, old-opset or ONNX's own.
class OpsetCoverage : public ::testing::TestWithParam<std::string> {};
TEST_P(OpsetCoverage, EveryVersionHasACase) {
  const std::string& op = GetParam();
  std::set<int> covered;
  for (const std::string& dir : {kNodeDir, kOldDir})
    for (const std::string& c : cases_of(dir, op)) covered.insert(version_in(dir + "/" + c + "/model.onnx", op));
  for (int v : ops::find_op(op)->versions) {
    if (v > kOnnxPackageOpset) continue;
    EXPECT_TRUE(covered.count(v)) << op << "-" << v << " has no conformance case";
  }
}
INSTANTIATE_TEST_SUITE_P(Registry, OpsetCoverage, ::testing::ValuesIn(onnx_ops()),
                         [](const auto& info) { return info.param; });

// Constant nodes, which the importer folds into values: no op of the registry, so named here.
TEST(ConstantNodes, FoldedAtLoad) {
  const auto cases = cases_of(kOldDir, "Constant");
  EXPECT_FALSE(cases.empty());
  run_cases(kOldDir, cases);
}

// Every old-opset case the script makes is one of a registered op (or of Constant, which the importer folds), so
// none goes unrun.
TEST(OldOpsetList, EveryCaseIsRun) {
  ASSERT_TRUE(fs::is_directory(kOldDir));
  std::set<std::string> run;
  for (const std::string& op : onnx_ops())
    for (const std::string& c : cases_of(kOldDir, op)) run.insert(c);
  int n = 0;
  for (auto& e : fs::directory_iterator(kOldDir)) {
    const std::string name = e.path().filename();
    ++n;
    EXPECT_TRUE(run.count(name) || name.rfind("test_constant_", 0) == 0) << name << " is generated but not run";
  }
  EXPECT_GT(n, 0);
}

}  // namespace
