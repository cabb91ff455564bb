// eval's metrics (top-k, per-class accuracy, the confusion matrix, MSE, MAE, R^2) against what PyTorch and NumPy
// compute on the same models and data (make_metrics_fixtures.py), through --json and the library; the CSV reader
// and .npy labels against the .npz holding the same arrays; and each bad CSV or label file as one line naming it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "onnxtrain/data.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/train.h"
#include "tests/support/cli.h"

using namespace onnxtrain;
using nlohmann::json;
using onnxtrain::testing::cli;
using onnxtrain::testing::Outcome;
using onnxtrain::testing::TempDir;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/metrics/";

json reference() {
  std::ifstream f(kDir + "reference.json");
  return json::parse(f);
}

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

json eval_json(const std::string& args) {
  Outcome r = cli("eval " + args + " --json");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(lines(r.out), 1) << "--json writes one object: " << r.out;
  return r.code == 0 ? json::parse(r.out) : json::object();
}

// Every classification metric of got equals PyTorch's and NumPy's (the loss to float rounding, counts exactly).
void expect_classification(const json& got, const json& want) {
  EXPECT_NEAR(got.at("loss").get<double>(), want.at("loss").get<double>(), 2e-6);
  EXPECT_DOUBLE_EQ(got.at("accuracy").get<double>(), want.at("accuracy").get<double>());
  EXPECT_EQ(got.at("top_k").get<int>(), want.at("top_k").get<int>());
  EXPECT_DOUBLE_EQ(got.at("top_k_accuracy").get<double>(), want.at("top_k_accuracy").get<double>());
  EXPECT_EQ(got.at("classes"), want.at("classes"));
  EXPECT_EQ(got.at("confusion_matrix"), want.at("confusion_matrix"));
  ASSERT_EQ(got.at("per_class_accuracy").size(), want.at("per_class_accuracy").size());
  for (size_t c = 0; c < want.at("per_class_accuracy").size(); ++c) {
    const json& w = want["per_class_accuracy"][c];
    const json& g = got["per_class_accuracy"][c];
    if (w.is_null())
      EXPECT_TRUE(g.is_null()) << "class " << c << " has no samples: " << g;
    else
      EXPECT_DOUBLE_EQ(g.get<double>(), w.get<double>()) << "class " << c;
  }
}

void expect_regression(const json& got, const json& want) {
  for (const char* k : {"loss", "mse", "mae"})
    EXPECT_NEAR(got.at(k).get<double>(), want.at(k).get<double>(), 2e-6) << k;
  EXPECT_NEAR(got.at("r2").get<double>(), want.at("r2").get<double>(), 2e-6);
  EXPECT_FALSE(got.contains("accuracy"));
}

TEST(Metrics, ClassLabelsMatchPyTorchAndNumPy) {
  const json ref = reference();
  expect_classification(eval_json(kDir + "cls.onnx --data " + kDir + "cls.npz --top-k 3"), ref["cls"]);
}

TEST(Metrics, TheTextShowsThemAndTheConfusionMatrix) {
  Outcome r = cli("eval " + kDir + "cls.onnx --data " + kDir + "cls.npz --top-k 3");
  ASSERT_EQ(r.code, 0) << r.err;
  const json ref = reference()["cls"];
  char acc[64];
  std::snprintf(acc, sizeof acc, "accuracy %.4f, top-3 accuracy %.4f", ref["accuracy"].get<double>(),
                ref["top_k_accuracy"].get<double>());
  EXPECT_NE(r.out.find(acc), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("6: n/a"), std::string::npos) << "class 6 has no samples:\n" << r.out;
  EXPECT_NE(r.out.find("confusion matrix (rows: label, columns: predicted)"), std::string::npos) << r.out;
  // The header, the per-class line, the matrix's title, its column labels and 7 rows.
  EXPECT_EQ(lines(r.out), 1 + 1 + 1 + 1 + 7) << r.out;
  // Row 0 of the matrix, as NumPy counts it.
  std::string row0 = "  0 ";
  for (const json& v : ref["confusion_matrix"][0]) {
    char b[16];
    std::snprintf(b, sizeof b, " %3lld", static_cast<long long>(v.get<int64_t>()));
    row0 += b;
  }
  EXPECT_NE(r.out.find(row0 + "\n"), std::string::npos) << "'" << row0 << "' not in:\n" << r.out;
}

TEST(Metrics, RegressionMatchesPyTorch) {
  const json ref = reference();
  expect_regression(eval_json(kDir + "reg.onnx --data " + kDir + "reg.npz --loss mse"), ref["reg"]);
}

// The library gives the same, for the C++ API and a later Python module.
TEST(Metrics, TheLibraryComputesThem) {
  const json ref = reference();
  Model model = Model::load(kDir + "reg.onnx");
  TrainOptions o;
  o.loss = Loss::Mse;
  TrainingSession s(model, o);
  const Dataset d = load_dataset(kDir + "reg.npz", Split::Test);
  // Batches of 10 over 97 samples: R^2's sums run across batches.
  const EvalResult r = s.evaluate(d, 10);
  EXPECT_TRUE(r.regression);
  EXPECT_NEAR(r.mse, ref["reg"]["mse"].get<double>(), 2e-6);
  EXPECT_NEAR(r.mae, ref["reg"]["mae"].get<double>(), 2e-6);
  EXPECT_NEAR(r.r2, ref["reg"]["r2"].get<double>(), 2e-6);

  Model cm = Model::load(kDir + "cls.onnx");
  TrainingSession cs(cm, TrainOptions{});
  EXPECT_TRUE(cs.class_labels());
  const Dataset cd = load_dataset(kDir + "cls.npz", Split::Test);
  const EvalResult c = cs.evaluate(cd, 16, 3);
  EXPECT_DOUBLE_EQ(c.top_k_accuracy(), ref["cls"]["top_k_accuracy"].get<double>());
  EXPECT_EQ(c.confusion.size(), 49u);
  EXPECT_TRUE(std::isnan(c.per_class_accuracy()[6]));
  std::string err;
  try {
    cs.evaluate(cd, 16, 8);
  } catch (const Error& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("top_k must be from 1 to the 7 classes, got 8"), std::string::npos) << err;
}

// A CSV and an .npy pair hold the same samples as the .npz: the same metrics.
TEST(Csv, ClassLabelsFromTheLastColumn) {
  const json ref = reference();
  expect_classification(eval_json(kDir + "cls.onnx --data " + kDir + "cls.csv --top-k 3"), ref["cls"]);
}

TEST(Csv, TargetColumnByNameQuotedAndInTheMiddle) {
  const json ref = reference();
  expect_regression(eval_json(kDir + "reg1.onnx --data " + kDir + "reg1.csv --loss mse --target-col 'price, usd'"),
                    ref["reg1"]);
}

// The reader against the arrays NumPy wrote the file from.
TEST(Csv, ReadsWhatNumPyWrote) {
  const auto want = load_npz(kDir + "reg1_expected.npz");
  const CsvTable t = load_csv(kDir + "reg1.csv", "price, usd");
  EXPECT_EQ(t.features, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(t.target, "price, usd");
  EXPECT_EQ(t.x.shape, want.at("x").shape);
  EXPECT_EQ(t.x.f32, want.at("x").f32);
  EXPECT_EQ(t.y.f32, want.at("y").f32);
  const CsvTable all = load_csv(kDir + "reg1.csv", "");
  EXPECT_EQ(all.x.shape, (std::vector<int64_t>{50, 5}));
  EXPECT_TRUE(all.y.shape.empty());
}

// Whole-valued targets are class labels under cross-entropy, float targets under mse.
TEST(Csv, TargetsAreTypedByTheLoss) {
  Dataset d = load_dataset(kDir + "cls.csv", Split::Test, {"x"}, kLastColumn);
  EXPECT_TRUE(d.y_untyped);
  Dataset regression = d;
  fit_targets(d, true);
  EXPECT_EQ(d.y.dtype, DType::Int64);
  fit_targets(regression, false);
  EXPECT_EQ(regression.y.dtype, DType::Float32);
  ASSERT_EQ(d.y.i64.size(), regression.y.f32.size());
  for (size_t i = 0; i < d.y.i64.size(); ++i) EXPECT_EQ(float(d.y.i64[i]), regression.y.f32[i]);
}

TEST(NpyLabels, FeaturesAndLabelsFromTwoFiles) {
  const json ref = reference();
  expect_classification(
      eval_json(kDir + "cls.onnx --data " + kDir + "cls_x.npy --labels " + kDir + "cls_y.npy --top-k 3"), ref["cls"]);
}

struct BadData {
  const char* name;
  std::string args;
  std::string message;
};

class BadDataFiles : public ::testing::TestWithParam<BadData> {};

// Each is one line on stderr naming the file (and the row and column, or the key), exit 1.
TEST_P(BadDataFiles, OneLineNamingTheFile) {
  const BadData& b = GetParam();
  Outcome r = cli("eval " + kDir + "cls.onnx " + b.args);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(b.message), std::string::npos) << "'" << b.message << "' not in: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadDataFiles,
    ::testing::Values(
        BadData{"not_a_number", "--data " + kDir + "not_a_number.csv",
                "not_a_number.csv: row 3, column 2 ('b'): 'abc' is not a number"},
        BadData{"empty_cell", "--data " + kDir + "empty_cell.csv", "empty_cell.csv: row 3, column 2 ('b'): empty cell"},
        BadData{"short_row", "--data " + kDir + "short_row.csv",
                "short_row.csv: row 3, column 3 ('y'): missing (the row has 2 cells, the header 3)"},
        BadData{"long_row", "--data " + kDir + "long_row.csv",
                "long_row.csv: row 3 has more cells than the header's 3 columns"},
        BadData{"empty", "--data " + kDir + "empty.csv", "empty.csv: the file is empty"},
        BadData{"header_only", "--data " + kDir + "header_only.csv", "header_only.csv: a header row and no rows"},
        BadData{"duplicate", "--data " + kDir + "duplicate.csv", "row 1: column name 'a' appears twice"},
        BadData{"unclosed", "--data " + kDir + "unclosed.csv", "unclosed.csv: row 2: a quoted cell is not closed"},
        BadData{"no_target_column", "--data " + kDir + "cls.csv --target-col nope",
                "cls.csv: no column 'nope' for the target; the columns: f0, f1, f2, f3, f4, f5, label"},
        BadData{"fraction_label", "--data " + kDir + "cls_fraction.csv",
                "cls_fraction.csv: row 5, column 'label': 2.5 is not a class label"},
        BadData{"float_labels", "--data " + kDir + "cls_float_y.npz",
                "cls_float_y.npz: array 'y' holds float32 (N) labels for a model of 7 classes: class labels are int64"},
        BadData{"missing_y", "--data " + kDir + "cls_no_y.npz",
                "cls_no_y.npz: no array 'y' for the labels or targets; the file has: x, z"},
        BadData{"missing_target_key", "--data " + kDir + "cls.npz --target-key label",
                "cls.npz: no array 'label' for the labels or targets; the file has: x, y"},
        BadData{"npy_without_labels", "--data " + kDir + "cls_x.npy",
                "cls_x.npy: an .npy holds features only; its labels come from an .npy of their own (--labels "
                "FILE.npy"},
        BadData{"labels_count", "--data " + kDir + "cls_x.npy --labels " + kDir + "cls_y_short.npy",
                "cls_y_short.npy: 100 labels for the 203 samples of"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(BadDataFiles, FloatLabelsAreRefusedByTheSessionToo) {
  Model model = Model::load(kDir + "cls.onnx");
  TrainingSession s(model, TrainOptions{});
  std::string err;
  try {
    s.train_step(Tensor::f32_of({2, 6}, std::vector<float>(12, 0.f)), Tensor::f32_of({2}, {0.f, 1.f}));
  } catch (const Error& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("float32 (N) targets under cross-entropy: class labels are int64"), std::string::npos) << err;
  EXPECT_EQ(s.steps(), 0);
}

// Usage errors (exit 2): the label options applied to data they cannot apply to.
TEST(BadDataFiles, LabelOptionsForOtherData) {
  Outcome a = cli("eval " + kDir + "cls.onnx --data " + kDir + "cls.npz --labels " + kDir + "cls_y.npy");
  EXPECT_EQ(a.code, 2) << a.err;
  EXPECT_NE(a.err.find("--labels: gives the labels of .npy or idx features"), std::string::npos) << a.err;
  Outcome b = cli("eval " + kDir + "cls.onnx --data " + kDir + "cls.npz --target-col label");
  EXPECT_EQ(b.code, 2) << b.err;
  EXPECT_NE(b.err.find("--target-col: names a column of .csv data"), std::string::npos) << b.err;
  Outcome c = cli("eval " + kDir + "reg.onnx --data " + kDir + "reg.npz --loss mse --top-k 2");
  EXPECT_EQ(c.code, 1) << c.err;
  EXPECT_NE(c.err.find("--top-k 2 applies to (N, C) scores against int64 class labels"), std::string::npos) << c.err;
}

// run copies the data's labels beside the outputs, and reads them from a CSV column or --target-key.
TEST(RunLabels, WrittenBesideTheOutputs) {
  const TempDir tmp("metrics");
  const std::string out = tmp.path() + "/out.npz";
  Outcome r = cli("run " + kDir + "cls.onnx --data " + kDir + "cls.csv --target-col label --write-labels --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("(out, labels)"), std::string::npos) << r.out;
  const auto got = load_npz(out);
  const auto want = load_npz(kDir + "cls.npz");
  ASSERT_TRUE(got.count("labels"));
  EXPECT_EQ(got.at("labels").dtype, DType::Int64);
  EXPECT_EQ(got.at("labels").i64, want.at("y").i64);
  EXPECT_EQ(got.at("out").shape, (std::vector<int64_t>{203, 7}));
  // Without --target-col every column of a CSV is a feature: 7 columns for a 6-feature input is refused by name.
  Outcome all = cli("run " + kDir + "cls.onnx --data " + kDir + "cls.csv --out " + out);
  EXPECT_EQ(all.code, 1);
  EXPECT_NE(all.err.find("do not fit model input 'x'"), std::string::npos) << all.err;
  // --target-key names the npz array; one it lacks lists what it has.
  Outcome key =
      cli("run " + kDir + "cls.onnx --data " + kDir + "cls_no_y.npz --target-key z --write-labels --out " + out);
  ASSERT_EQ(key.code, 0) << key.err;
  EXPECT_EQ(load_npz(out).at("labels").i64, want.at("y").i64);
  Outcome missing = cli("run " + kDir + "cls.onnx --data " + kDir + "cls.npz --target-key w --out " + out);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("no array 'w' for the labels or targets; the file has: x, y"), std::string::npos)
      << missing.err;
  Outcome none = cli("run " + kDir + "cls.onnx --data " + kDir + "cls_x.npy --write-labels --out " + out);
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("--write-labels: " + kDir + "cls_x.npy has no labels"), std::string::npos) << none.err;
}

}  // namespace
