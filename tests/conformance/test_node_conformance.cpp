// ONNX conformance: every backend node test of ONNX 1.12 for the ops we run (generated from python3-onnx's case
// definitions), our old-opset cases (NumPy references, or ONNX's node tests made at the older version), and our typed
// cases. Each case loads model.onnx, feeds test_data_set_*/input_*.pb and compares with output_*.pb. Which cases run
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

// The cases in dir named after op: test_<op in lower case> or test_<op in snake case>, alone or followed by _...,
// ONNX's expanded function tests apart (they run other ops), and only those whose model runs op (test_reduce_sum_square
// is ReduceSumSquare's, not ReduceSum's). Sorted, for a stable order.
std::vector<std::string> cases_of(const std::string& dir, const std::string& op) {
  const std::set<std::string> stems = {"test_" + lower(op), "test_" + snake(op)};
  std::vector<std::string> found;
  if (!fs::is_directory(dir)) return found;
  for (auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename();
    bool named = false;
    for (const std::string& stem : stems) named = named || name == stem || name.rfind(stem + "_", 0) == 0;
    if (!named || name.find("_expanded") != std::string::npos) continue;
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

// Element k of t as a double, whatever its dtype (float16 and bfloat16 decoded here, apart from the runtime's code).
double element(const Tensor& t, size_t k) {
  auto at = [&](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, t.bytes.data() + k * sizeof(v), sizeof(v));
    return static_cast<double>(v);
  };
  switch (t.dtype) {
    case DType::Float32: return t.f32[k];
    case DType::Int64: return static_cast<double>(t.i64[k]);
    case DType::UInt8:
    case DType::Bool: return at(uint8_t{});
    case DType::Int8: return at(int8_t{});
    case DType::UInt16: return at(uint16_t{});
    case DType::Int16: return at(int16_t{});
    case DType::Int32: return at(int32_t{});
    case DType::UInt32: return at(uint32_t{});
    case DType::UInt64: return at(uint64_t{});
    case DType::Float64: return at(double{});
    case DType::Float16: {
      const auto h = static_cast<uint16_t>(at(uint16_t{}));
      const int e = (h >> 10) & 31, m = h & 1023;
      const double mag = e == 31 ? (m ? NAN : INFINITY) : e ? std::ldexp(1024 + m, e - 25) : std::ldexp(m, -24);
      return h & 0x8000 ? -mag : mag;
    }
    case DType::BFloat16: {
      const uint32_t bits = static_cast<uint32_t>(at(uint16_t{})) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
  }
  return NAN;
}

// got against want, recursively through sequences and optionals: the same kind, dtype, shape and element count, and
// values within float32 rounding (integers exactly).
void expect_same(const Value& got, const Value& want, const std::string& where) {
  ASSERT_EQ(static_cast<int>(got.kind), static_cast<int>(want.kind)) << where;
  ASSERT_EQ(got.elements.size(), want.elements.size()) << where;
  for (size_t e = 0; e < want.elements.size(); ++e)
    expect_same(got.elements[e], want.elements[e], where + "[" + std::to_string(e) + "]");
  if (want.kind != Value::Kind::Tensor) return;
  const Tensor &g = got.tensor, &w = want.tensor;
  // Dropout's mask is the one output onnxtrain gives in another dtype than ONNX: float32 0/1 for ONNX's bool.
  if (!(w.dtype == DType::Bool && g.dtype == DType::Float32)) {
    ASSERT_EQ(dtype_name(g.dtype), dtype_name(w.dtype)) << where;
  }
  ASSERT_EQ(g.shape, w.shape) << where;
  const size_t count = static_cast<size_t>(w.numel());
  ASSERT_EQ(g.data_bytes(), count * dtype_size(g.dtype)) << where;
  ASSERT_EQ(w.data_bytes(), count * dtype_size(w.dtype)) << where;
  // Integers, bool, float16 and bfloat16 are exact: every element's bytes are the reference's.
  if (g.dtype == w.dtype && g.dtype != DType::Float32 && g.dtype != DType::Float64) {
    const size_t width = dtype_size(g.dtype);
    const auto *gb = static_cast<const uint8_t*>(g.data()), *wb = static_cast<const uint8_t*>(w.data());
    for (size_t k = 0; k < count; ++k)
      ASSERT_EQ(std::memcmp(gb + k * width, wb + k * width, width), 0)
          << where << "[" << k << "]: got " << element(g, k) << ", expected " << element(w, k);
    return;
  }
  for (size_t k = 0; k < count; ++k) {
    const double gv = element(g, k), wv = element(w, k);
    if (gv == wv) continue;  // infinities too
    ASSERT_LE(std::fabs(gv - wv), 1e-6 + 1e-5 * std::fabs(wv))
        << where << "[" << k << "]: got " << gv << ", expected " << wv;
  }
}

void run_case(const std::string& dir) {
  ASSERT_TRUE(fs::exists(dir + "/model.onnx")) << dir << " was not generated";
  Model model = Model::load(dir + "/model.onnx");
  const ModelInfo info = model.info();
  InferenceSession session(model);
  int sets = 0;
  for (int s = 0; fs::exists(dir + "/test_data_set_" + std::to_string(s)); ++s, ++sets) {
    std::string set = dir + "/test_data_set_" + std::to_string(s);
    std::map<std::string, Value> inputs;
    for (size_t i = 0; i < info.inputs.size(); ++i)
      inputs[info.inputs[i].name] = load_onnx_value(set + "/input_" + std::to_string(i) + ".pb", info.inputs[i].kind);
    auto outputs = session.run_values(inputs);
    for (size_t o = 0; o < info.outputs.size(); ++o) {
      const std::string& name = info.outputs[o].name;
      Value want = load_onnx_value(set + "/output_" + std::to_string(o) + ".pb", info.outputs[o].kind);
      ASSERT_TRUE(outputs.count(name)) << set << ": no output " << name;
      expect_same(outputs.at(name), want, set + " output " + name);
    }
  }
  EXPECT_GT(sets, 0) << dir << " has no test_data_set";
}

const std::string kTypedDir = std::string(ONNXTRAIN_TEST_DATA) + "/typed";
// Cases made by tests/conformance/make_typed_tests.py: values that are not float32 tensors, expected values from
// NumPy (PyTorch for bfloat16). A test per op that takes them (OpDef::types) runs its cases.
class TypedTest : public ::testing::TestWithParam<std::string> {};
TEST_P(TypedTest, MatchesReference) {
  const auto cases = cases_of(kTypedDir, GetParam());
  EXPECT_FALSE(cases.empty()) << GetParam() << " takes other types than float32 but has no typed case";
  for (const std::string& c : cases) {
    SCOPED_TRACE(c);
    run_case(kTypedDir + "/" + c);
  }
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

// A typed tensor must come in its input's dtype; training refuses typed inputs and outputs.
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
    EXPECT_NE(std::string(e.what()).find("input 'a' is uint16; training computes on float32 tensors"),
              std::string::npos)
        << e.what();
  }
}

// Every ONNX 1.12 node test of each registered op.
class NodeTest : public ::testing::TestWithParam<std::string> {};
TEST_P(NodeTest, MatchesReference) {
  const auto cases = cases_of(kNodeDir, GetParam());
  EXPECT_FALSE(cases.empty()) << "python3-onnx made no node test named after " << GetParam();
  for (const std::string& c : cases) {
    SCOPED_TRACE(c);
    run_case(kNodeDir + "/" + c);
  }
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
  refused(Tensor::f32_of({3}, {2, 3, 4}), "must be a 1-D int64 tensor");
  refused(Tensor::i64_of({1, 3}, {2, 3, 4}), "must be a 1-D int64 tensor");
}

// Old-opset cases made by tests/conformance/make_old_opset_tests.py, with NumPy expected values or ONNX's node tests
// made at the older version.
class OldOpsetTest : public ::testing::TestWithParam<std::string> {};
TEST_P(OldOpsetTest, MatchesReference) {
  for (const std::string& c : cases_of(kOldDir, GetParam())) {
    SCOPED_TRACE(c);
    run_case(kOldDir + "/" + c);
  }
}
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
  for (const std::string& c : cases) {
    SCOPED_TRACE(c);
    run_case(kOldDir + "/" + c);
  }
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
