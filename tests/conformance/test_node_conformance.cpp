// ONNX conformance: every backend node test of ONNX 1.12 for the ops we run (generated from python3-onnx's case
// definitions), and our old-opset cases whose expected values come from a NumPy reference. Each case loads
// model.onnx, feeds test_data_set_*/input_*.pb and compares with output_*.pb.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"

namespace fs = std::filesystem;
using namespace onnxtrain;

namespace {

const std::string kNodeDir = std::string(ONNXTRAIN_TEST_DATA) + "/onnx_node/node";
const std::string kOldDir = std::string(ONNXTRAIN_TEST_DATA) + "/old_opsets";

// Every non-expanded ONNX 1.12 node test of the ops we run. NodeTestList.Complete checks that the generator made no
// case for these ops that is missing here, but for kNotTensors.
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
    "test_identity",
    "test_flatten_axis0", "test_flatten_axis1", "test_flatten_axis2", "test_flatten_axis3", "test_flatten_default_axis",
    "test_flatten_negative_axis1", "test_flatten_negative_axis2", "test_flatten_negative_axis3",
    "test_flatten_negative_axis4",
    "test_transpose_all_permutations_0", "test_transpose_all_permutations_1", "test_transpose_all_permutations_2",
    "test_transpose_all_permutations_3", "test_transpose_all_permutations_4", "test_transpose_all_permutations_5",
    "test_transpose_default",
    "test_matmul_2d", "test_matmul_3d", "test_matmul_4d",
    "test_add", "test_add_bcast",
    "test_reshape_allowzero_reordered", "test_reshape_extended_dims", "test_reshape_negative_dim",
    "test_reshape_negative_extended_dims", "test_reshape_one_dim", "test_reshape_reduced_dims",
    "test_reshape_reordered_all_dims", "test_reshape_reordered_last_dims", "test_reshape_zero_and_negative_dim",
    "test_reshape_zero_dim",
    "test_dropout_default", "test_dropout_default_mask", "test_dropout_default_mask_ratio", "test_dropout_default_old",
    "test_dropout_default_ratio", "test_dropout_random_old",
};
const std::regex kOurOps(
    "test_(gemm|relu|leakyrelu|softmax|sigmoid|tanh|logsoftmax|identity|flatten|transpose|matmul|add|reshape|dropout)(_.*)?");
// Cases of our ops that onnxtrain refuses by design, with the reason:
const std::set<std::string> kNotTensors = {
    // values that are not float32 tensors: onnxtrain computes on float32 tensors
    "test_identity_opt", "test_identity_sequence", "test_add_uint8"};

void run_case(const std::string& dir) {
  ASSERT_TRUE(fs::exists(dir + "/model.onnx")) << dir << " was not generated";
  Model model = Model::load(dir + "/model.onnx");
  InferenceSession session(model);
  int sets = 0;
  for (int s = 0; fs::exists(dir + "/test_data_set_" + std::to_string(s)); ++s, ++sets) {
    std::string set = dir + "/test_data_set_" + std::to_string(s);
    std::map<std::string, Tensor> inputs;
    auto names = model.input_names();
    for (size_t i = 0; i < names.size(); ++i) inputs[names[i]] = load_onnx_tensor(set + "/input_" + std::to_string(i) + ".pb");
    auto outputs = session.run(inputs);
    auto out_names = model.output_names();
    for (size_t o = 0; o < out_names.size(); ++o) {
      Tensor want = load_onnx_tensor(set + "/output_" + std::to_string(o) + ".pb");
      const Tensor& got = outputs.at(out_names[o]);
      ASSERT_EQ(got.shape, want.shape) << set << " output " << out_names[o];
      // Integer and bool expectations (Dropout's mask) hold exact values; onnxtrain computes them as float 0/1.
      const size_t count = want.dtype == DType::Float32 ? want.f32.size() : want.i64.size();
      for (size_t k = 0; k < count; ++k) {
        float w = want.dtype == DType::Float32 ? want.f32[k] : static_cast<float>(want.i64[k]), g = got.f32[k];
        ASSERT_LE(std::fabs(g - w), 1e-6f + 1e-5f * std::fabs(w))
            << set << " output " << out_names[o] << "[" << k << "]: got " << g << ", expected " << w;
      }
    }
  }
  EXPECT_GT(sets, 0) << dir << " has no test_data_set";
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
    if (!std::regex_match(name, kOurOps) || name.find("_expanded") != std::string::npos || kNotTensors.count(name))
      continue;
    ++ours;
    EXPECT_TRUE(listed.count(name)) << name << " is generated but not run";
  }
  EXPECT_EQ(ours, static_cast<int>(kNodeCases.size()));
}

// The cases refused by design end in one clear error at load, naming the input and what it is.
TEST(NodeTestList, NotTensorsAreRefusedNamingTheInput) {
  const std::map<std::string, std::string> says = {
      {"test_add_uint8", "input 'x' is uint8; onnxtrain runs float32 inputs"},
      {"test_identity_opt", "input 'opt_in' is not a tensor"},
      {"test_identity_sequence", "input 'x' is not a tensor"}};
  ASSERT_EQ(says.size(), kNotTensors.size());
  for (const auto& [name, what] : says) {
    ASSERT_TRUE(kNotTensors.count(name)) << name;
    try {
      Model::load(kNodeDir + "/" + name + "/model.onnx");
      ADD_FAILURE() << name << " loaded";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(what), std::string::npos) << name << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << name << ": " << msg;
    }
  }
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
