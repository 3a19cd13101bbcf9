/* A static program that runs its arguments: the e2e suite's "parent that is not on the vault's
 * allowlist" (it lives in the agent's writable workspace). */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  execv(argv[1], argv + 1);
  perror("execv");
  return 127;
}
