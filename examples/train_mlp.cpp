// The README's library example: train an exported model on Fashion-MNIST and save it.
#include <onnxtrain/dataset.h>
#include <onnxtrain/model.h>
#include <onnxtrain/train.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) return std::fprintf(stderr, "usage: train_mlp MODEL OUT\n"), 2;
  onnxtrain::Model model = onnxtrain::Model::load(argv[1]);
  onnxtrain::TrainOptions options;
  options.optimizer.name = "adam";  // torch.optim.Adam's rule and defaults
  onnxtrain::TrainingSession session(model, options);

  onnxtrain::Dataset train = onnxtrain::load_dataset("fashion-mnist", onnxtrain::Split::Train);
  onnxtrain::fit_features(train, "input", {784});  // (N, 28, 28) -> (N, 784)
  const int64_t batch = 64;
  for (int64_t b = 0; b + batch <= 6400; b += batch) {
    onnxtrain::Tensor x = onnxtrain::Tensor::f32_of(
        {batch, 784}, {train.x.f32.begin() + b * 784, train.x.f32.begin() + (b + batch) * 784});
    onnxtrain::Tensor y =
        onnxtrain::Tensor::i64_of({batch}, {train.y.i64.begin() + b, train.y.i64.begin() + b + batch});
    session.train_step(x, y);
  }

  onnxtrain::Dataset test = onnxtrain::load_dataset("fashion-mnist", onnxtrain::Split::Test);
  onnxtrain::fit_features(test, "input", {784});
  onnxtrain::EvalResult r = session.evaluate(test.x, test.y);
  std::printf("test loss %.4f, accuracy %.4f\n", r.loss, r.accuracy());
  model.save(argv[2]);  // the same ONNX file, with trained weights
  return 0;
}
