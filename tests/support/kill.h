// Killing a training run with SIGKILL while it checkpoints, for the tests that show kill -9 leaves a checkpoint that
// resumes bitwise. Header-only and test-only.
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace onnxtrain::testing {

// Starts the shell command cmd (exec'd, so the kill reaches the run itself; its output discarded), waits until
// ck/latest exists (its first checkpoint is out; 6 s at most), and kills it with SIGKILL delay_ms later. A run that
// finished before the kill must have exited 0. Fails the test otherwise; the caller checks HasFatalFailure().
inline void kill_nine_after_first_checkpoint(const std::string& cmd, const std::string& ck, int delay_ms) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 1200 && !std::filesystem::exists(ck + "/latest"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) {  // it finished before the kill: a valid outcome, but then this trial tests nothing
    ASSERT_EQ(WEXITSTATUS(status), 0);
  } else {
    ASSERT_EQ(WTERMSIG(status), SIGKILL);
  }
}

}  // namespace onnxtrain::testing
