// A training run through the library alone, for test_trainer's kill -9 test: `trainer_driver MODEL DATA OUT EPOCHS
// [CK EVERY | CK resume]` trains MODEL on DATA for EPOCHS (Adam, batch 6, 2 threads), checkpointing into CK every
// EVERY steps (or resuming from CK), and saves OUT. Errors go to stderr, exit 1.
#include <cstdio>
#include <string>

#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/trainer.h"

int main(int argc, char** argv) {
  if (argc != 5 && argc != 7)
    return std::fprintf(stderr, "usage: trainer_driver MODEL DATA OUT EPOCHS [CK EVERY | CK resume]\n"), 2;
  try {
    onnxtrain::Model model = onnxtrain::Model::load(argv[1]);
    onnxtrain::Dataset data = onnxtrain::load_dataset(argv[2], onnxtrain::Split::Train);
    onnxtrain::fit_features(data, model.input_names()[0], {784});
    onnxtrain::TrainOptions options;
    options.optimizer.kind = onnxtrain::Optimizer::Adam;
    options.threads = 2;
    onnxtrain::TrainerOptions run;
    run.batch_size = 6;
    run.epochs = std::stoll(argv[4]);
    if (argc == 7 && std::string(argv[6]) == "resume") {
      run.resume_from = argv[5];
    } else if (argc == 7) {
      run.checkpoint_dir = argv[5];
      run.checkpoint_every = std::stoll(argv[6]);
    }
    onnxtrain::Trainer trainer(model, options, run, data);
    trainer.run();
    model.save(argv[3]);
  } catch (const onnxtrain::Error& e) {
    std::fprintf(stderr, "trainer_driver: %s\n", e.what());
    return 1;
  }
  return 0;
}
