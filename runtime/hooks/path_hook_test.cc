// ac_path_hook.so preloaded into real programs (coreutils, bash, python3, node, a probe) run as
// the agent's uid, 1000, when the test is root (as itself otherwise): a temp folder's 0644
// secret.txt is blocked by the hook alone, so these tests see the hook, not file modes.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr uid_t kAgent = 1000;
constexpr const char* kSecret = "TOPSECRET";

struct Outcome {
  int status = -1;  // the exit status, or 128 + signal
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& text, mode_t mode) {
  std::ofstream(p) << text;
  ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class PathHook : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/acctl-path-hook-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    // Copies the agent can read wherever the build folder is.
    hook_ = dir_ / "ac_path_hook.so";
    probe_ = dir_ / "probe";
    fs::copy_file(AC_PATH_HOOK, hook_);
    fs::copy_file(PATH_HOOK_PROBE, probe_);
    ASSERT_EQ(::chmod(hook_.c_str(), 0755), 0);
    ASSERT_EQ(::chmod(probe_.c_str(), 0755), 0);
    write_file(dir_ / "secret.txt", std::string(kSecret) + "\n", 0644);
    write_file(dir_ / "secret.txt.bak", "backup\n", 0644);
    write_file(dir_ / "run.sh", "#!/bin/sh\necho RAN-BLOCKED\n", 0755);
    fs::create_directory(dir_ / "sub");
    fs::create_directory(dir_ / "scratch");  // the agent's to write in
    ASSERT_EQ(::chmod((dir_ / "scratch").c_str(), 0777), 0);
    fs::create_directory(dir_ / "private");
    write_file(dir_ / "private" / "key", std::string(kSecret) + "\n", 0644);
    fs::create_symlink(dir_ / "secret.txt", dir_ / "link");
    fs::create_directory_symlink(dir_, dir_ / "sub" / "up");
    blocked_ = (dir_ / "secret.txt").string() + ":" + (dir_ / "run.sh").string() + ":" +
               (dir_ / "private").string() + "/";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs `argv` with the hook preloaded, in `cwd` (the temp folder by default), as the agent or
  // as root; `blocked` false leaves ACCTL_BLOCKED_PATHS unset.
  Outcome run(const std::vector<std::string>& argv, bool as_agent = true, bool blocked = true,
              const fs::path& cwd = {}, const std::string& path_var = "/usr/bin:/bin") {
    std::vector<std::string> env = {"PATH=" + path_var, "LD_PRELOAD=" + hook_.string(),
                                    "HOME=" + dir_.string(), "LANG=C"};
    if (blocked) env.push_back("ACCTL_BLOCKED_PATHS=" + blocked_);
    const fs::path out = dir_ / ".out", err = dir_ / ".err";
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(120);
      if (::chdir((cwd.empty() ? dir_ : cwd).c_str()) != 0) ::_exit(121);
      if (as_agent && ::getuid() == 0 &&
          (::setgroups(0, nullptr) != 0 || ::setresgid(kAgent, kAgent, kAgent) != 0 ||
           ::setresuid(kAgent, kAgent, kAgent) != 0))
        ::_exit(122);
      std::vector<char*> args, envp;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      for (const auto& v : env) envp.push_back(const_cast<char*>(v.c_str()));
      args.push_back(nullptr);
      envp.push_back(nullptr);
      ::execvpe(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    Outcome r;
    int status = 0;
    if (pid > 0 && ::waitpid(pid, &status, 0) == pid)
      r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
  Outcome probe(const std::vector<std::string>& args, bool as_agent = true) {
    std::vector<std::string> argv = {probe_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, as_agent);
  }

  std::string at(const std::string& name) const { return (dir_ / name).string(); }
  static std::string line_for(const std::string& path) {
    return "acctl: " + path + " is blocked in this sandbox (blockedPaths)\n";
  }

  fs::path dir_, hook_, probe_;
  std::string blocked_;
};

// The call failed, said `lines` lines on stderr, each naming `shown`, and showed none of the
// secret. One line a call: bash, which stats a program before it runs it, says it three times.
#define EXPECT_REFUSED_LINES(outcome, shown, lines)                     \
  do {                                                                  \
    const Outcome& o_ = (outcome);                                      \
    EXPECT_NE(o_.status, 0) << o_.out << o_.err;                        \
    EXPECT_EQ(count(o_.err, "acctl: "), size_t{lines}) << o_.err;       \
    EXPECT_EQ(count(o_.err, line_for(shown)), size_t{lines}) << o_.err; \
    EXPECT_EQ(o_.out.find(kSecret), std::string::npos) << o_.out;       \
    EXPECT_EQ(o_.out.find("RAN-BLOCKED"), std::string::npos) << o_.out; \
  } while (0)
#define EXPECT_REFUSED(outcome, shown) EXPECT_REFUSED_LINES(outcome, shown, 1)

TEST_F(PathHook, CoreutilsAreRefusedWithOneLineNamingThePath) {
  const std::string secret = at("secret.txt");
  EXPECT_REFUSED(run({"cat", secret}), secret);
  EXPECT_REFUSED(run({"head", "-n1", secret}), secret);
  EXPECT_REFUSED(run({"stat", secret}), secret);
  EXPECT_REFUSED(run({"ls", "-l", secret}), secret);
  EXPECT_REFUSED(run({"cp", secret, at("scratch")}), secret);
  EXPECT_FALSE(fs::exists(dir_ / "scratch" / "secret.txt"));
}

TEST_F(PathHook, ShellsAndInterpretersAreRefusedToo) {
  const std::string secret = at("secret.txt");
  EXPECT_REFUSED(run({"bash", "-c", "cat < secret.txt"}), secret);
  EXPECT_REFUSED(run({"sh", "-c", "read line < secret.txt && echo $line"}), secret);
  EXPECT_REFUSED(run({"python3", "-c", "print(open('secret.txt').read())"}), secret);
  if (::access("/usr/bin/node", X_OK) == 0 || ::access("/usr/local/bin/node", X_OK) == 0)
    EXPECT_REFUSED(
        run({"node", "-e", "console.log(require('fs').readFileSync('secret.txt', 'utf8'))"}),
        secret);
}

TEST_F(PathHook, RelativeDottedAndSymlinkedPathsAreCaught) {
  const std::string secret = at("secret.txt");
  EXPECT_REFUSED(run({"cat", "secret.txt"}), secret);
  EXPECT_REFUSED(run({"cat", "../secret.txt"}, true, true, dir_ / "sub"), secret);
  EXPECT_REFUSED(run({"cat", "sub/../secret.txt"}), secret);
  EXPECT_REFUSED(run({"cat", "/" + at("./sub/..//secret.txt")}), secret);
  // Through a symlink to the file, and through one to its folder.
  EXPECT_REFUSED(run({"cat", at("link")}), secret);
  EXPECT_REFUSED(run({"cat", "up/secret.txt"}, true, true, dir_ / "sub"), secret);
  // A symlink in a folder the agent writes, whose name says nothing: judged where it lands.
  ASSERT_EQ(::symlink(secret.c_str(), at("scratch/late").c_str()), 0);
  EXPECT_REFUSED(run({"cat", at("scratch/late")}), secret);
}

TEST_F(PathHook, ABlockedFolderHoldsWhatIsUnderIt) {
  EXPECT_REFUSED(run({"cat", at("private/key")}), at("private/key"));
  EXPECT_REFUSED(run({"ls", at("private")}), at("private"));
  EXPECT_REFUSED_LINES(run({"bash", "-c", "cd private"}), at("private"), 3);
  EXPECT_REFUSED(probe({"openat", at("private"), "key"}), at("private"));
}

TEST_F(PathHook, EachInterposedCallIsRefused) {
  const std::string secret = at("secret.txt");
  for (const char* call : {"open", "fopen", "stat", "lstat", "statx", "access", "readlink"}) {
    SCOPED_TRACE(call);
    const Outcome o = probe({call, secret});
    EXPECT_REFUSED(o, secret);
    EXPECT_EQ(o.out, "error 13\n");  // EACCES
  }
  // openat through a descriptor of the folder.
  EXPECT_REFUSED(probe({"openat", dir_.string(), "secret.txt"}), secret);
  EXPECT_REFUSED(probe({"openat", at("sub"), "../link"}), secret);
}

TEST_F(PathHook, ABlockedProgramIsNotRun) {
  const std::string script = at("run.sh");
  for (const char* call : {"execve", "execl", "spawn"}) {
    SCOPED_TRACE(call);
    EXPECT_REFUSED(probe({call, script}), script);
  }
  // Found on PATH: judged on the file the search finds.
  for (const char* call : {"execvp", "execlp", "spawnp"}) {
    SCOPED_TRACE(call);
    EXPECT_REFUSED(run({probe_.string(), call, "run.sh"}, true, true, {}, dir_.string() + ":/bin"),
                   script);
  }
  EXPECT_REFUSED_LINES(run({"bash", "-c", "./run.sh"}), script, 3);
}

TEST_F(PathHook, NoNewNameForABlockedFileAndNoRemovingIt) {
  const std::string secret = at("secret.txt");
  EXPECT_REFUSED(probe({"rename", secret, at("scratch/moved")}), secret);
  EXPECT_REFUSED(probe({"rename", at("secret.txt.bak"), secret}), secret);
  EXPECT_REFUSED(probe({"link", secret, at("scratch/linked")}), secret);
  EXPECT_REFUSED(probe({"symlink", secret, at("scratch/symlinked")}), secret);
  EXPECT_REFUSED(probe({"unlink", secret}), secret);
  EXPECT_EQ(slurp(dir_ / "secret.txt"), std::string(kSecret) + "\n");
  EXPECT_TRUE(fs::exists(dir_ / "secret.txt.bak"));
  EXPECT_TRUE(fs::is_empty(dir_ / "scratch"));  // nothing got through under another name
  // The same calls on an ordinary file work (the agent's own: fs.protected_hardlinks).
  write_file(dir_ / "scratch" / "own", "mine\n", 0644);
  if (::getuid() == 0) {
    ASSERT_EQ(::chown(at("scratch/own").c_str(), kAgent, kAgent), 0);
  }
  EXPECT_EQ(probe({"link", at("scratch/own"), at("scratch/linked")}).out, "ok\n");
  EXPECT_EQ(probe({"rename", at("scratch/linked"), at("scratch/moved")}).out, "ok\n");
  EXPECT_EQ(probe({"unlink", at("scratch/moved")}).out, "ok\n");
}

TEST_F(PathHook, RootIsNeverRefused) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root";
  const Outcome cat = run({"cat", "secret.txt"}, false);
  EXPECT_EQ(cat.status, 0) << cat.err;
  EXPECT_EQ(cat.out, std::string(kSecret) + "\n");
  EXPECT_EQ(cat.err, "");
  EXPECT_EQ(run({"python3", "-c", "print(open('link').read(), end='')"}, false).out,
            std::string(kSecret) + "\n");
  EXPECT_EQ(probe({"openat", dir_.string(), "secret.txt"}, false).out, std::string(kSecret) + "\n");
  EXPECT_EQ(probe({"stat", at("secret.txt")}, false).out, "ok\n");
  EXPECT_EQ(probe({"execve", at("run.sh")}, false).out, "RAN-BLOCKED\n");
  EXPECT_EQ(run({"stat", "/run/acctl/secrets"}, false).err.find("acctl:"), std::string::npos);
}

TEST_F(PathHook, UnrelatedFilesAndTheFolderAreUntouched) {
  const Outcome bak = run({"cat", "secret.txt.bak"});
  EXPECT_EQ(bak.status, 0) << bak.err;
  EXPECT_EQ(bak.out, "backup\n");
  EXPECT_EQ(bak.err, "");
  const Outcome ls = run({"ls", dir_.string()});
  EXPECT_EQ(ls.status, 0) << ls.err;
  EXPECT_NE(ls.out.find("secret.txt.bak\n"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("secret.txt\n"), std::string::npos) << ls.out;  // the name is no secret
  EXPECT_EQ(ls.err, "");
  EXPECT_EQ(probe({"stat", dir_.string()}).out, "ok\n");
  EXPECT_EQ(probe({"execve", "/bin/true"}).status, 0);
  // errno is the program's: kept on success, the kernel's on failure.
  EXPECT_EQ(probe({"errno", at("secret.txt.bak")}).out, "errno 18 rc 0\n");  // EXDEV, as set
  EXPECT_EQ(probe({"open", at("missing")}).out, "error 2\n");                // ENOENT
  EXPECT_EQ(probe({"openat", dir_.string(), "missing"}).out, "error 2\n");
}

TEST_F(PathHook, TheVaultsPathsAreRefusedWithoutAList) {
  // Whether or not the folders exist here: the hook judges the name.
  for (const char* path : {"/run/acctl/secrets", "/run/acctl/secrets/github"}) {
    SCOPED_TRACE(path);
    const Outcome o = run({"stat", path}, true, false);
    EXPECT_NE(o.status, 0);
    EXPECT_EQ(count(o.err, "acctl: "), 1u) << o.err;
    EXPECT_NE(o.err.find(std::string("acctl: ") + path + " is the vault's ("), std::string::npos)
        << o.err;
  }
  // Without the list, the temp folder's file is an ordinary one.
  const Outcome cat = run({"cat", "secret.txt"}, true, false);
  EXPECT_EQ(cat.status, 0) << cat.err;
  EXPECT_EQ(cat.out, std::string(kSecret) + "\n");
}

}  // namespace
