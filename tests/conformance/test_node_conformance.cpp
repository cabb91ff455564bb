// ONNX conformance: every backend node test of ONNX 1.12 for the ops we run (generated from python3-onnx's case
// definitions), and our old-opset cases whose expected values come from a NumPy reference. Each case loads
// model.onnx, feeds test_data_set_*/input_*.pb and compares with output_*.pb.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"
#include "onnxtrain/train.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;

namespace {

const std::string kNodeDir = std::string(ONNXTRAIN_TEST_DATA) + "/onnx_node/node";
const std::string kOldDir = std::string(ONNXTRAIN_TEST_DATA) + "/old_opsets";

// Every non-expanded ONNX 1.12 node test of the ops we run. NodeTestList.Complete checks that the generator made no
// case for these ops that is missing here.
const std::vector<std::string> kNodeCases = {
    "test_gemm_all_attributes", "test_gemm_alpha", "test_gemm_beta", "test_gemm_default_matrix_bias",
    "test_gemm_default_no_bias", "test_gemm_default_scalar_bias", "test_gemm_default_single_elem_vector_bias",
    "test_gemm_default_vector_bias", "test_gemm_default_zero_bias", "test_gemm_transposeA", "test_gemm_transposeB",
    "test_relu", "test_leakyrelu", "test_leakyrelu_default", "test_leakyrelu_example", "test_softmax_axis_0",
    "test_softmax_axis_1", "test_softmax_axis_2", "test_softmax_default_axis", "test_softmax_example",
    "test_softmax_large_number", "test_softmax_negative_axis",
    "test_sigmoid", "test_sigmoid_example", "test_tanh", "test_tanh_example",
    "test_logsoftmax_axis_0", "test_logsoftmax_axis_1", "test_logsoftmax_axis_2", "test_logsoftmax_default_axis",
    "test_logsoftmax_example_1", "test_logsoftmax_large_number", "test_logsoftmax_negative_axis",
    "test_identity", "test_identity_opt", "test_identity_sequence",
    "test_flatten_axis0", "test_flatten_axis1", "test_flatten_axis2", "test_flatten_axis3", "test_flatten_default_axis",
    "test_flatten_negative_axis1", "test_flatten_negative_axis2", "test_flatten_negative_axis3",
    "test_flatten_negative_axis4",
    "test_transpose_all_permutations_0", "test_transpose_all_permutations_1", "test_transpose_all_permutations_2",
    "test_transpose_all_permutations_3", "test_transpose_all_permutations_4", "test_transpose_all_permutations_5",
    "test_transpose_default",
    "test_matmul_2d", "test_matmul_3d", "test_matmul_4d",
    "test_add", "test_add_bcast", "test_add_uint8",
    "test_reshape_allowzero_reordered", "test_reshape_extended_dims", "test_reshape_negative_dim",
    "test_reshape_negative_extended_dims", "test_reshape_one_dim", "test_reshape_reduced_dims",
    "test_reshape_reordered_all_dims", "test_reshape_reordered_last_dims", "test_reshape_zero_and_negative_dim",
    "test_reshape_zero_dim",
    "test_dropout_default", "test_dropout_default_mask", "test_dropout_default_mask_ratio", "test_dropout_default_old",
    "test_dropout_default_ratio", "test_dropout_random_old",
    "test_squeeze", "test_squeeze_negative_axes",
    "test_unsqueeze_axis_0", "test_unsqueeze_axis_1", "test_unsqueeze_axis_2", "test_unsqueeze_negative_axes",
    "test_unsqueeze_three_axes", "test_unsqueeze_two_axes", "test_unsqueeze_unsorted_axes",
};
const std::regex kOurOps(
    "test_(gemm|relu|leakyrelu|softmax|sigmoid|tanh|logsoftmax|identity|flatten|transpose|matmul|add|reshape|dropout|squeeze|unsqueeze)(_.*)?");
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
    case DType::UInt8: case DType::Bool: return at(uint8_t{});
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
    ASSERT_LE(std::fabs(gv - wv), 1e-6 + 1e-5 * std::fabs(wv)) << where << "[" << k << "]: got " << gv << ", expected " << wv;
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
// NumPy (PyTorch for bfloat16). TypedList.Complete checks that the script made exactly these.
const std::vector<std::string> kTypedCases = {
    "test_add_int8_opset14", "test_add_int16_opset14", "test_add_int32_opset7", "test_add_int64_opset7",
    "test_add_uint8_opset14", "test_add_uint16_opset14", "test_add_uint32_opset7", "test_add_uint64_opset7",
    "test_add_float64_opset7", "test_add_float16_opset7", "test_add_bfloat16_opset13", "test_add_uint16_initializer",
    "test_add_int32_constant_node", "test_identity_int64_opset1", "test_identity_bool_opset13",
    "test_identity_float16_opset16", "test_identity_uint8_opset16", "test_identity_sequence_shapes",
    "test_identity_sequence_empty", "test_identity_optional_none", "test_identity_optional_tensor",
    "test_squeeze_int64_opset13", "test_squeeze_float16_opset1", "test_unsqueeze_bool_opset11",
    "test_unsqueeze_uint8_opset13",
};

class TypedTest : public ::testing::TestWithParam<std::string> {};
TEST_P(TypedTest, MatchesReference) { run_case(kTypedDir + "/" + GetParam()); }
INSTANTIATE_TEST_SUITE_P(Typed, TypedTest, ::testing::ValuesIn(kTypedCases), [](const auto& info) { return info.param; });

TEST(TypedList, Complete) {
  ASSERT_TRUE(fs::is_directory(kTypedDir));
  std::set<std::string> listed(kTypedCases.begin(), kTypedCases.end());
  int n = 0;
  for (auto& e : fs::directory_iterator(kTypedDir)) {
    if (e.path().filename() == "bad") continue;
    ++n;
    EXPECT_TRUE(listed.count(e.path().filename())) << e.path().filename() << " is generated but not run";
  }
  EXPECT_EQ(n, static_cast<int>(kTypedCases.size()));
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
  EXPECT_EQ(n, 8);
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
  says([&] { session.run({{"x", Tensor::f32_of({1}, {1.f})}}); }, "input 'x' is sequence(float32); feed it through run_values");
  says([&] { session.run_values({{"x", Value::of(Tensor::f32_of({1}, {1.f}))}}); },
       "input 'x' is sequence(float32) but the value given is float32");
  Value seq;
  seq.kind = Value::Kind::Sequence;
  seq.elements = {Value::of(Tensor::f32_of({2}, {1.f, 2.f})), Value::of(Tensor::i64_of({1}, {3}))};
  says([&] { session.run_values({{"x", seq}}); }, "input 'x' is sequence(float32) but the value given is sequence(float32)");
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
    EXPECT_NE(std::string(e.what()).find("input 'a' is uint16; training computes on float32 tensors"), std::string::npos)
        << e.what();
  }
}

class NodeTest : public ::testing::TestWithParam<std::string> {};
TEST_P(NodeTest, MatchesReference) { run_case(kNodeDir + "/" + GetParam()); }
INSTANTIATE_TEST_SUITE_P(Onnx112, NodeTest, ::testing::ValuesIn(kNodeCases),
                         [](const auto& info) { return info.param; });

TEST(NodeTestList, Complete) {
  ASSERT_TRUE(fs::is_directory(kNodeDir));
  std::set<std::string> listed(kNodeCases.begin(), kNodeCases.end());
  int ours = 0;
  for (auto& e : fs::directory_iterator(kNodeDir)) {
    std::string name = e.path().filename();
    if (!std::regex_match(name, kOurOps) || name.find("_expanded") != std::string::npos)
      continue;
    ++ours;
    EXPECT_TRUE(listed.count(name)) << name << " is generated but not run";
  }
  EXPECT_EQ(ours, static_cast<int>(kNodeCases.size()));
}

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

// Old-opset cases made by tests/conformance/make_old_opset_tests.py, with NumPy expected values. OldOpsetList.Complete
// checks that the script made exactly these.
std::vector<std::string> old_cases() {
  return {
    "test_softmax_opset1_axis0",
    "test_softmax_opset1_axis1",
    "test_softmax_opset1_axis2",
    "test_softmax_opset1_axis_neg1",
    "test_softmax_opset1_default",
    "test_softmax_opset11_axis0",
    "test_softmax_opset11_axis1",
    "test_softmax_opset11_axis2",
    "test_softmax_opset11_axis_neg1",
    "test_softmax_opset11_default",
    "test_softmax_opset13_axis0",
    "test_softmax_opset13_axis1",
    "test_softmax_opset13_axis2",
    "test_softmax_opset13_axis_neg1",
    "test_softmax_opset13_default",
    "test_gemm_opset1_matrix_c",
    "test_gemm_opset1_broadcast_vector_c",
    "test_gemm_opset6_broadcast_vector_c",
    "test_gemm_opset6_broadcast_row_c",
    "test_gemm_opset6_broadcast_column_c",
    "test_gemm_opset6_broadcast_single_c",
    "test_gemm_opset6_no_broadcast_matrix_c",
    "test_gemm_opset7_vector_c",
    "test_gemm_opset9_column_c",
    "test_gemm_opset11_no_c",
    "test_gemm_opset13_column_c",
    "test_relu_opset1",
    "test_relu_opset6",
    "test_relu_opset13",
    "test_relu_opset14",
    "test_leakyrelu_opset1_default",
    "test_leakyrelu_opset1_alpha",
    "test_leakyrelu_opset6_default",
    "test_leakyrelu_opset6_alpha",
    "test_leakyrelu_opset16_default",
    "test_leakyrelu_opset16_alpha",
    "test_reshape_opset1_neg",
    "test_reshape_opset1_zero",
    "test_reshape_opset1_extend",
    "test_reshape_opset5_neg",
    "test_reshape_opset5_zero",
    "test_reshape_opset5_extend",
    "test_reshape_opset13_neg",
    "test_reshape_opset13_zero",
    "test_reshape_opset13_extend",
    "test_reshape_opset14_neg",
    "test_reshape_opset14_zero",
    "test_reshape_opset14_extend",
    "test_reshape_opset14_allowzero_copies_none",
    "test_reshape_opset13_to_scalar",
    "test_add_opset6_4",
    "test_add_opset6_3x4",
    "test_add_opset7_1x4",
    "test_add_opset14_3x1",
    "test_add_opset13_both_broadcast",
    "test_constant_opset13",
      "test_sigmoid_opset1",
    "test_sigmoid_opset6",
    "test_tanh_opset1",
    "test_tanh_opset6",
    "test_identity_opset1",
    "test_identity_opset13",
    "test_identity_opset14",
    "test_logsoftmax_opset1_default",
    "test_logsoftmax_opset1_axis2",
    "test_logsoftmax_opset1_axis0",
    "test_logsoftmax_opset11_default",
    "test_logsoftmax_opset11_axis2",
    "test_logsoftmax_opset11_axis0",
    "test_flatten_opset1_axis2",
    "test_flatten_opset1_axis0",
    "test_flatten_opset9_axis4",
    "test_flatten_opset11_axisneg1",
    "test_flatten_opset11_axisneg3",
    "test_transpose_opset1_perm201",
    "test_transpose_opset1_default",
    "test_matmul_opset1_2d",
    "test_matmul_opset1_batch_broadcast",
    "test_matmul_opset9_2d",
    "test_matmul_opset9_batch_broadcast",
    "test_matmul_1d_2d",
    "test_matmul_1d_3d",
    "test_matmul_2d_1d",
    "test_matmul_3d_1d",
    "test_matmul_1d_1d",
    "test_add_opset1_3x4",
    "test_add_opset1_4",
    "test_dropout_opset1",
    "test_dropout_opset6",
    "test_dropout_opset7",
    "test_dropout_opset10",
    "test_dropout_opset12_ratio_input",
    "test_squeeze_opset1_axes02",
    "test_squeeze_opset1_all",
    "test_squeeze_opset11_axesneg2",
    "test_squeeze_opset13_all",
    "test_squeeze_opset13_constant_axes",
    "test_unsqueeze_opset1_axes04",
    "test_unsqueeze_opset11_axesneg1_1",
    "test_unsqueeze_opset13_constant_axes",
};
}

class OldOpsetTest : public ::testing::TestWithParam<std::string> {};
TEST_P(OldOpsetTest, MatchesNumpyReference) { run_case(kOldDir + "/" + GetParam()); }
INSTANTIATE_TEST_SUITE_P(NumPy, OldOpsetTest, ::testing::ValuesIn(old_cases()),
                         [](const auto& info) { return info.param; });

TEST(OldOpsetList, Complete) {
  ASSERT_TRUE(fs::is_directory(kOldDir));
  auto cases = old_cases();
  std::set<std::string> listed(cases.begin(), cases.end());
  int n = 0;
  for (auto& e : fs::directory_iterator(kOldDir)) {
    ++n;
    EXPECT_TRUE(listed.count(e.path().filename())) << e.path().filename() << " is generated but not run";
  }
  EXPECT_EQ(n, static_cast<int>(cases.size()));
}

}  // namespace
