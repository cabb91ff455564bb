// Command-line spelling that CLI11 does not handle: did-you-mean suggestions for mistyped commands and options, the
// underscore spellings of PyTorch scripts (--batch_size), OMP_NUM_THREADS as --threads' default, and `train
// --resume DIR` taking the options the checkpoint's run was started with. Pure string work over CLI11's model of
// the options; it neither reads data nor trains.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace onnxtrain::cli {

// The name among names nearest to given (edit distance, a swap of neighbours counting one), when near enough to be
// a slip: within 1 for names of up to 4 characters, 2 beyond; or the only name that given begins. "" when none is.
std::string closest(const std::string& given, const std::vector<std::string>& names);

// Every long option of cmd ("--epochs"), and "--help".
std::vector<std::string> option_names(const CLI::App& cmd);

// args with each option's name spelt with dashes where it has underscores ("--batch_size=8" -> "--batch-size=8"),
// so that every option, whoever adds it, takes the spelling PyTorch scripts use. Values are left alone, and so is
// everything after "--".
std::vector<std::string> dashed_options(std::vector<std::string> args);

// When cmd has --threads and it was not given, and OMP_NUM_THREADS is set: its value (the first of a nested list
// "4,2") becomes --threads', validated as if given. Throws CLI::ValidationError naming OMP_NUM_THREADS otherwise.
void threads_from_environment(CLI::App& cmd);

// The options of a parsed command as given, to start it again: a JSON list of arguments ("--lr", "0.1", ...), the
// positional ones first. Values of options whose type is a path (type_name FILE, DIR, MODEL or DATA) are made
// absolute, so that the list means the same from another folder; "fashion-mnist" stays a name. `skip` are left out.
std::string given_arguments(const CLI::App& cmd, const std::vector<std::string>& skip);

// args (a command's own arguments, without the program and command names) with every option of `stored`
// (given_arguments' list) that args does not give, nor excludes, added after them. Throws CLI::ValidationError when
// stored is not such a list.
std::vector<std::string> with_stored_arguments(const CLI::App& cmd, const std::vector<std::string>& args,
                                               const std::string& stored);

}  // namespace onnxtrain::cli
