// The README's library example: train an exported model on Fashion-MNIST with the Trainer, checkpoint, resume, save.
#include <onnxtrain/dataset.h>
#include <onnxtrain/model.h>
#include <onnxtrain/trainer.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 4) return std::fprintf(stderr, "usage: train_mlp MODEL OUT CHECKPOINT_DIR\n"), 2;
  onnxtrain::Dataset train = onnxtrain::load_dataset("fashion-mnist", onnxtrain::Split::Train);
  onnxtrain::Dataset test = onnxtrain::load_dataset("fashion-mnist", onnxtrain::Split::Test);
  onnxtrain::fit_features(train, "input", {784});  // (N, 28, 28) -> (N, 784)
  onnxtrain::fit_features(test, "input", {784});

  onnxtrain::TrainOptions options;
  options.optimizer.kind = onnxtrain::Optimizer::Adam;  // torch.optim.Adam's rule and defaults
  onnxtrain::TrainerOptions run;
  run.batch_size = 64;
  run.epochs = 1;
  run.checkpoint_dir = argv[3];  // weights, Adam's moments and the data position, at each epoch's end
  {
    onnxtrain::Model model = onnxtrain::Model::load(argv[1]);
    onnxtrain::Trainer trainer(model, options, run, train, &test);  // validates on test at each epoch's end
    trainer.run();
  }

  // Later, in this process or another: the same run, continued for a second epoch as if it had never stopped.
  run.epochs = 2;
  run.resume_from = argv[3];
  onnxtrain::Model model = onnxtrain::Model::load(argv[1]);
  onnxtrain::Trainer trainer(model, options, run, train, &test);
  trainer.run();
  onnxtrain::EvalResult r = trainer.session().evaluate(test.x, test.y);
  std::printf("test loss %.4f, accuracy %.4f\n", r.loss, r.accuracy());
  model.save(argv[2]);  // the same ONNX file, with trained weights
  return 0;
}
