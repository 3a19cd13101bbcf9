// Entry point of acctl: hands the arguments to the CLI and returns its status.
#include <unistd.h>

#include <climits>
#include <exception>
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  char self[PATH_MAX] = {};
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  acctl::CliEnv env{std::cin,  std::cout,
                    std::cerr, n > 0 ? std::string(self, n) : "",
                    nullptr,   isatty(STDOUT_FILENO) == 1};
  try {
    return acctl::run_cli(args, env);
  } catch (const std::exception& e) {
    std::cerr << "acctl: internal error: " << e.what() << "\n";
    return acctl::kExitUsage;
  }
}
