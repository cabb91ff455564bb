// Importer and exporter against references made outside the code under test: PyTorch's outputs for the models it
// exported, the exact bytes of the files as written by PyTorch and ONNX, and one broken file per class of bad input.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include <cmath>
#include <filesystem>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"
#include "runtime/model_impl.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using onnxtrain::testing::slurp;
using onnxtrain::testing::TempDir;

namespace {

const std::string kModels = std::string(ONNXTRAIN_SOURCE_DIR) + "/models";
const std::string kVariants = std::string(ONNXTRAIN_TEST_DATA) + "/models";
const std::string kBad = std::string(ONNXTRAIN_TEST_DATA) + "/bad_models";

// Runs model on the reference input saved by models/make_models.py and compares with PyTorch's output.
void expect_matches_pytorch(const std::string& model_path, const std::string& ref_path,
                            const std::string& output = "probs") {
  Model model = Model::load(model_path);
  auto ref = load_npz(ref_path);
  InferenceSession session(model);
  auto out = session.run({{"input", ref.at("input")}});
  const Tensor& want = ref.at(output);
  const Tensor& got = out.at(output);
  ASSERT_EQ(got.shape, want.shape);
  double max_diff = 0;
  for (size_t i = 0; i < want.f32.size(); ++i)
    max_diff = std::max(max_diff, double(std::fabs(got.f32[i] - want.f32[i])));
  EXPECT_LE(max_diff, 1e-5) << model_path;
}

TEST(PyTorchParity, BundledFashionMlp) {
  expect_matches_pytorch(kModels + "/fashion_mlp.onnx", kModels + "/fashion_mlp.ref.npz");
}

// The bundled CNN's input is (N, 1, 28, 28) and its output raw scores.
TEST(PyTorchParity, BundledFashionCnn) {
  expect_matches_pytorch(kModels + "/fashion_cnn.onnx", kModels + "/fashion_cnn.ref.npz", "scores");
}

// A session reads each run's input where the caller holds it (no copy): a second tensor of the same shape, here the
// reference rows in reverse order, must give PyTorch's rows in reverse order, and the first tensor its own again.
TEST(PyTorchParity, EachRunReadsItsOwnInput) {
  Model model = Model::load(kModels + "/fashion_mlp.onnx");
  auto ref = load_npz(kModels + "/fashion_mlp.ref.npz");
  const Tensor& x = ref.at("input");
  const Tensor& want = ref.at("probs");
  const int64_t rows = x.shape[0], in = x.numel() / rows, out = want.numel() / rows;
  ASSERT_GT(rows, 1);
  // Both feeds stay alive throughout, so they sit at different addresses.
  std::map<std::string, Tensor> plain = {{"input", x}}, reversed = {{"input", x}};
  Tensor& rx = reversed.at("input");
  for (int64_t r = 0; r < rows; ++r)
    std::copy(x.f32.begin() + (rows - 1 - r) * in, x.f32.begin() + (rows - r) * in, rx.f32.begin() + r * in);
  InferenceSession session(model);
  for (const auto* feed : {&plain, &reversed, &plain}) {
    const Tensor got = session.run(*feed).at("probs");
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < out; ++j) {
        const int64_t from = feed == &plain ? r : rows - 1 - r;
        ASSERT_NEAR(got.f32[r * out + j], want.f32[from * out + j], 1e-5)
            << (feed == &plain ? "reference" : "reversed") << " input, row " << r;
      }
  }
}

class Variant : public ::testing::TestWithParam<std::string> {};
TEST_P(Variant, MatchesPyTorch) {
  expect_matches_pytorch(kVariants + "/" + GetParam() + ".onnx", kVariants + "/" + GetParam() + ".ref.npz");
}
INSTANTIATE_TEST_SUITE_P(Exports, Variant,
                         ::testing::Values("mlp_opset9", "mlp_opset11", "mlp_opset13", "mlp_opset17",
                                           "mlp_init_as_inputs", "mlp_external"));

TEST(ModelInfo, DescribesTheBundledModel) {
  ModelInfo info = Model::load(kModels + "/fashion_mlp.onnx").info();
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].name, "input");
  EXPECT_EQ(info.inputs[0].dims, (std::vector<std::string>{"batch", "784"}));
  std::vector<std::string> ops;
  for (auto& n : info.nodes) ops.push_back(n.op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"Gemm", "Relu", "Gemm", "LeakyRelu", "Gemm", "Softmax"}));
  // 784*256+256 + 256*128+128 + 128*10+10, all trainable.
  EXPECT_EQ(info.total_params, 235146);
  EXPECT_EQ(info.trainable_params, 235146);
}

TEST(ModelInfo, InitializerListedAsInputIsAParameter) {
  Model model = Model::load(kVariants + "/mlp_init_as_inputs.onnx");
  EXPECT_EQ(model.input_names(), (std::vector<std::string>{"input"}));
  EXPECT_EQ(model.info().trainable_params, 235146);
}

// ---- Round trip: load then save gives the same bytes ----------------------------------------------------------
void expect_round_trip(const std::string& path) {
  const TempDir tmp("model_io");
  const std::string& dir = tmp.path();
  std::string out = dir + "/" + fs::path(path).filename().string();
  Model::load(path).save(out);
  EXPECT_EQ(slurp(out), slurp(path)) << path;
}

TEST(RoundTrip, BundledModelIsByteIdentical) { expect_round_trip(kModels + "/fashion_mlp.onnx"); }

TEST(RoundTrip, EveryExportIsByteIdentical) {
  for (auto name : {"mlp_opset9", "mlp_opset11", "mlp_opset13", "mlp_opset17", "mlp_init_as_inputs"})
    expect_round_trip(kVariants + "/" + name + ".onnx");
}

TEST(RoundTrip, EveryConformanceModelIsByteIdentical) {
  int n = 0;
  for (const std::string& root :
       {std::string(ONNXTRAIN_TEST_DATA) + "/onnx_node/node", std::string(ONNXTRAIN_TEST_DATA) + "/old_opsets"}) {
    for (auto& e : fs::directory_iterator(root)) {
      std::string name = e.path().filename();
      bool ours = name.rfind("test_gemm", 0) == 0 || name.rfind("test_relu", 0) == 0 ||
                  name.rfind("test_leakyrelu", 0) == 0 || name.rfind("test_softmax", 0) == 0;
      if (!ours || name.find("_expanded") != std::string::npos) continue;
      expect_round_trip(e.path().string() + "/model.onnx");
      ++n;
    }
  }
  EXPECT_GT(n, 40);
}

TEST(RoundTrip, ExternalDataGoesBackToItsFile) {
  const TempDir tmp("model_io");
  const std::string& dir = tmp.path();
  Model::load(kVariants + "/mlp_external.onnx").save(dir + "/mlp_external.onnx");
  EXPECT_EQ(slurp(dir + "/mlp_external.onnx"), slurp(kVariants + "/mlp_external.onnx"));
  EXPECT_EQ(slurp(dir + "/mlp_external.onnx.data"), slurp(kVariants + "/mlp_external.onnx.data"));
}

TEST(RoundTrip, ChangedWeightsAreWrittenAndNothingElse) {
  const TempDir tmp("model_io");
  const std::string& dir = tmp.path();
  for (auto src : {kModels + "/fashion_mlp.onnx", kVariants + "/mlp_external.onnx"}) {
    Model model = Model::load(src);
    ir::Graph& g = model.impl().graph;
    for (size_t v = 0; v < g.values.size(); ++v)
      if (g.values[v].kind == ir::ValueKind::Parameter)
        for (int64_t i = 0; i < g.numel(static_cast<int>(v)); ++i)
          g.param(static_cast<int>(v))[i] = g.param(static_cast<int>(v))[i] * 2.f + 0.25f;
    const auto& params = g.params;
    std::string out = dir + "/changed_" + fs::path(src).filename().string();
    model.save(out);
    Model back = Model::load(out);
    EXPECT_EQ(back.impl().graph.params, params) << src;
    // The structure is the file's own: same ports, nodes and initializers.
    ModelInfo a = model.info(), b = back.info();
    EXPECT_EQ(a.producer_name, b.producer_name);
    EXPECT_EQ(a.nodes.size(), b.nodes.size());
    EXPECT_EQ(a.initializers.size(), b.initializers.size());
  }
  // Saving beside the source under another name must not touch the source's external data.
  std::string copy = dir + "/copy";
  fs::create_directory(copy);
  fs::copy(kVariants + "/mlp_external.onnx", copy);
  fs::copy(kVariants + "/mlp_external.onnx.data", copy);
  std::string before = slurp(copy + "/mlp_external.onnx.data");
  Model m = Model::load(copy + "/mlp_external.onnx");
  m.impl().graph.params[0] += 1.f;
  m.save(copy + "/trained.onnx");
  EXPECT_EQ(slurp(copy + "/mlp_external.onnx.data"), before);
  EXPECT_EQ(Model::load(copy + "/trained.onnx").impl().graph.params, m.impl().graph.params);
}

// A write that fails half way (here: the file-size limit, which binds root too) leaves the old file and no
// temporary behind.
TEST(RoundTrip, FailedSaveLeavesTheOldFileIntact) {
  const TempDir tmp("model_io");
  const std::string& dir = tmp.path();
  std::string out = dir + "/model.onnx";
  onnxtrain::testing::write_file(out, "previous contents");
  Model model = Model::load(kModels + "/fashion_mlp.onnx");
  struct rlimit old;
  getrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = {4096, old.rlim_max};
  setrlimit(RLIMIT_FSIZE, &small);
  try {
    model.save(out);
    ADD_FAILURE() << "a write over the size limit succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(out), std::string::npos) << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_EQ(slurp(out), "previous contents");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1) << "a temporary file was left behind";
  EXPECT_THROW(model.save(dir + "/no/such/folder/model.onnx"), Error);
}

TEST(RoundTrip, SavingOntoAFolderIsRefused) {
  const TempDir tmp("model_io");
  const std::string& dir = tmp.path();
  fs::create_directory(dir + "/taken.onnx");
  try {
    Model::load(kModels + "/fashion_mlp.onnx").save(dir + "/taken.onnx");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("taken.onnx"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_directory(dir + "/taken.onnx"));
}

// ---- Bad models: one clear line naming the file and what is wrong ---------------------------------------------
struct BadCase {
  const char* file;
  std::vector<const char*> says;
};
// gtest prints this in test listings instead of the struct's bytes.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.file; }

class BadModel : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadModel, IsRefusedWithOneClearLine) {
  const BadCase& c = GetParam();
  std::string path = kBad + "/" + c.file;
  if (std::string(c.file) != "does_not_exist.onnx") {
    ASSERT_TRUE(fs::exists(path)) << path;
  }
  try {
    Model model = Model::load(path);
    InferenceSession session(model);
    session.run({{"x", Tensor::f32_of({2, 3}, std::vector<float>(6, 1.f))}});
    FAIL() << c.file << " was accepted";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << "does not start with the file: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "more than one line: " << msg;
    for (const char* s : c.says) EXPECT_NE(msg.find(s), std::string::npos) << "'" << s << "' not in: " << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Files, BadModel,
    ::testing::Values(
        BadCase{"empty.onnx", {"empty"}}, BadCase{"garbage.onnx", {"not an ONNX model"}},
        BadCase{"truncated.onnx", {"not an ONNX model"}},
        BadCase{"int64_initializer.onnx", {"node 'gemm0' (Gemm)", "int64", "float32"}},
        BadCase{"missing_input.onnx", {"node 'relu0' (Relu)", "'ghost'", "not a graph input"}},
        BadCase{"cycle.onnx", {"cycle"}},
        BadCase{"gemm_mismatch.onnx", {"node 'gemm0' (Gemm)", "cannot multiply", "(2,3)", "(4,5)"}},
        BadCase{"softmax_axis.onnx", {"(Softmax)", "axis 5 is out of range"}},
        BadCase{"unsupported_op.onnx",
                {"node 'lrn0' (LRN)", "not supported at opset 13", "Gemm (opsets 1-21, trainable through)",
                 "Dropout (opsets 1-21"}},
        BadCase{"unsupported_ops.onnx",
                {"node 'det0' (Det)", "not supported at opset 13", "the model also has Mod (2 nodes);"}},
        BadCase{"ir_version_2.onnx", {"ir_version 2"}}, BadCase{"opset_99.onnx", {"opset 99", "1 to 21"}},
        BadCase{"external_missing.onnx", {"nope.bin", "not found"}},
        BadCase{"external_escape.onnx", {"../escape.bin", "leaves the model's folder"}},
        BadCase{"external_absolute.onnx", {"/etc/passwd", "absolute"}},
        BadCase{"external_out_of_range.onnx", {"ext_small.bin", "has 16"}},
        BadCase{"external_symlink.onnx", {"ext_link.bin", "resolves outside the model's folder"}},
        BadCase{"external_folder.onnx", {"ext_folder.bin", "is not a regular file"}},
        BadCase{"raw_data_short.onnx", {"raw_data has 8 bytes"}}, BadCase{"huge_dims.onnx", {"declares more than"}},
        BadCase{"no_float_input.onnx", {"input 'x'", "int64"}},
        BadCase{"squeeze_not_one.onnx",
                {"node 'squeeze0' (Squeeze)", "cannot squeeze axis 1 of (2,3): its dim is 3, not 1"}},
        BadCase{"unsqueeze_repeated_axes.onnx", {"node 'unsq0' (Unsqueeze)", "axes (1,1) name an axis more than once"}},
        BadCase{"unsqueeze_no_axes.onnx", {"node 'unsq0' (Unsqueeze)", "attribute axes is required"}},
        BadCase{"rank13_unsqueeze.onnx",
                {"node 'unsq0' (Unsqueeze): output 'y'", "has 13 dims; onnxtrain takes at most 12"}},
        BadCase{"function_calls_itself.onnx", {"function mylib.Loop is nested more than 32 calls deep"}},
        BadCase{"function_doubling.onnx", {"expanding the model's functions gives more than 32768 nodes"}},
        BadCase{"rank13_input.onnx", {"input 'x' has 13 dims; onnxtrain takes at most 12"}},
        BadCase{"rank13_initializer.onnx", {"initializer 'B' has 13 dims; onnxtrain takes at most 12"}},
        BadCase{"does_not_exist.onnx", {"cannot open"}}),
    [](const auto& info) {
      std::string n = info.param.file;
      return n.substr(0, n.find('.'));
    });

// The one-line error loading kBad/file gives, which must start with its path; "" if it loads.
std::string load_error(const std::string& file) {
  const std::string path = kBad + "/" + file;
  if (!fs::exists(path)) return "fixture " + path + " is missing";
  try {
    Model::load(path);
    return "";
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind(path + ": ", 0) != 0 || msg.find('\n') != std::string::npos)
      return "not one line naming the file: " + msg;
    return msg.substr(path.size() + 2);
  }
}

// Non-finite float attributes are hyper-parameters gone wrong (a NaN alpha trained to NaN weights with exit 0): refused
// for every op and attribute, naming the node and the attribute, also inside an expanded function and in a Constant's
// value_float(s). A NaN in a Constant's value tensor is data: it loads and reaches the output.
TEST(BadModels, D10_NonFiniteFloatAttributesAreRefused) {
  EXPECT_EQ(load_error("gemm_alpha_nan.onnx"),
            "node 'gemm0' (Gemm): attribute alpha is nan; float attributes must be finite");
  EXPECT_EQ(load_error("gemm_beta_inf.onnx"),
            "node 'gemm0' (Gemm): attribute beta is inf; float attributes must be finite");
  EXPECT_EQ(load_error("floats_attribute_nan.onnx"),
            "node 'relu0' (Relu): attribute scales has -inf at index 1; float attributes must be finite");
  EXPECT_EQ(load_error("function_slope_nan.onnx"),
            "node 'call0/LeakyRelu' (LeakyRelu): attribute alpha is nan; float attributes must be finite");
  EXPECT_EQ(load_error("constant_value_float_nan.onnx"),
            "node 'const0' (Constant): attribute value_float is nan; float attributes must be finite");
  EXPECT_EQ(load_error("constant_value_floats_inf.onnx"),
            "node 'const0' (Constant): attribute value_floats has inf at index 2; float attributes must be finite");
  ASSERT_EQ(load_error("constant_tensor_nan.onnx"), "");
  Model model = Model::load(kBad + "/constant_tensor_nan.onnx");
  const Tensor y = InferenceSession(model).run({{"x", Tensor::f32_of({2, 3}, std::vector<float>(6, 1.f))}}).at("y");
  for (int i = 0; i < 6; ++i)
    if (i % 3 == 0)
      EXPECT_TRUE(std::isnan(y.f32[i])) << i;
    else
      EXPECT_EQ(y.f32[i], 1.f + float(i % 3)) << i;
}

// Two initializers over the same bytes of an external file (the same region, or overlapping ones) passed the check
// on total bytes, and write-back then saved one's trained values over the other's. Refused, naming both and the file;
// adjacent regions load, each with its own values.
TEST(BadModels, D18_OverlappingExternalRegionsAreRefused) {
  EXPECT_EQ(load_error("external_same_region.onnx"),
            "initializer 'B2': its external data (bytes 0 to 48 of 'shared96.bin') overlaps that of initializer 'B1' "
            "(bytes 0 to 48); each tensor needs a region of its own");
  EXPECT_EQ(load_error("external_overlap.onnx"),
            "initializer 'B2': its external data (bytes 24 to 72 of './shared96.bin') overlaps that of initializer "
            "'B1' (bytes 0 to 48); each tensor needs a region of its own");
  ASSERT_EQ(load_error("external_adjacent.onnx"), "");
  Model model = Model::load(kBad + "/external_adjacent.onnx");
  // x = e_0: each output row 0 is its B's first row, floats 0..3 of the file for B1 and 12..15 for B2.
  auto out = InferenceSession(model).run({{"x", Tensor::f32_of({2, 3}, {1, 0, 0, 0, 0, 0})}});
  EXPECT_EQ(std::vector<float>(out.at("y1").f32.begin(), out.at("y1").f32.begin() + 4),
            (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(std::vector<float>(out.at("y2").f32.begin(), out.at("y2").f32.begin() + 4),
            (std::vector<float>{12, 13, 14, 15}));
}

// Reshape's -1 was shown as 0 ("to (4,0)"): the shape is shown as the model gives it.
TEST(BadModels, D22_ReshapeShowsItsMinusOneAsGiven) {
  EXPECT_EQ(load_error("reshape_indivisible.onnx"),
            "node 'reshape0' (Reshape): cannot reshape (2,3) to (4,-1): 6 elements do not divide evenly");
}

// Ranks past oneDNN's 12 that only the data reveals are refused when the plan is made, naming the input or the node
// (they reached oneDNN as "internal error: dimensions are invalid").
// The model's own functions are expanded at load: Block calls Leaky at slope 0.5, then at 0.2 (an attribute taken by
// reference), so y = x * (x > 0 ? 1 : 0.1). The saved model keeps its functions and loads again the same.
TEST(LocalFunctions, AreExpandedWithTheirAttributes) {
  Model model = Model::load(kBad + "/local_functions.onnx");
  std::vector<std::string> names;
  for (const auto& n : model.info().nodes) names.push_back(n.name + " " + n.op_type);
  EXPECT_EQ(names, (std::vector<std::string>{"block0/Leaky/LeakyRelu LeakyRelu", "block0/Leaky#2/LeakyRelu LeakyRelu"}))
      << "one node per body node, named after the calls";
  const std::vector<float> x = {-2.f, -0.5f, 0.f, 0.5f, 1.f, 3.f};
  const Tensor y = InferenceSession(model).run({{"x", Tensor::f32_of({2, 3}, x)}}).at("y");
  for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(y.f32[i], x[i] > 0 ? x[i] : 0.5f * 0.2f * x[i]) << i;
  const TempDir tmp("model_io");
  const std::string& dir = tmp.path();
  model.save(dir + "/m.onnx");
  EXPECT_EQ(slurp(dir + "/m.onnx"), slurp(kBad + "/local_functions.onnx"));
}

TEST(BadData, MoreThanTwelveDimsAreRefusedByName) {
  const std::vector<int64_t> thirteen = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3};
  auto refused = [](auto&& run, const std::string& says) {
    try {
      run();
      ADD_FAILURE() << "accepted; expected: " << says;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  Model unranked = Model::load(kBad + "/unranked_relu.onnx");
  InferenceSession relu(unranked);
  refused(
      [&] {
        relu.run({{"x", Tensor::f32_of(thirteen, std::vector<float>(6, 1.f))}});
      },
      "input 'x' (1,1,1,1,1,1,1,1,1,1,1,2,3) has 13 dims; onnxtrain takes at most 12");
  EXPECT_EQ(
      relu.run({{"x", Tensor::f32_of({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3}, std::vector<float>(6, -1.f))}}).at("y").f32,
      std::vector<float>(6, 0.f))
      << "12 dims run";
  Model fed = Model::load(kBad + "/reshape_fed_shape.onnx");
  InferenceSession reshape(fed);
  Tensor shape;
  shape.dtype = DType::Int64;
  shape.shape = {13};
  shape.i64 = std::vector<int64_t>(thirteen.begin(), thirteen.end());
  refused(
      [&] {
        reshape.run({{"x", Tensor::f32_of({2, 3}, std::vector<float>(6, 1.f))}, {"shape", shape}});
      },
      "node 'reshape0' (Reshape): output 'y' (1,1,1,1,1,1,1,1,1,1,1,2,3) has 13 dims");
}

TEST(BadData, ShapeThatContradictsTheModelNamesTheInput) {
  Model model = Model::load(kModels + "/fashion_mlp.onnx");
  InferenceSession session(model);
  try {
    session.run({{"input", Tensor::f32_of({4, 100}, std::vector<float>(400, 0.f))}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 'input' expects shape (batch,784) but the data has shape (4,100)"),
              std::string::npos)
        << e.what();
  }
  try {
    session.run({{"labels", Tensor::f32_of({4}, std::vector<float>(4, 0.f))}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 'input' was not given any data"), std::string::npos) << e.what();
  }
}

}  // namespace
