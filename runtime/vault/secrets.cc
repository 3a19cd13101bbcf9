// Reading the token files and holding the tokens (see secrets.h).
#include "vault/secrets.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/syscall.h"

namespace acctl::vault {

SecretBuffer::SecretBuffer(std::string_view bytes) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  mapped_ = (bytes.size() / page + 1) * page;
  void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    // Nothing to lock without a mapping; the bytes must still be held.
    mapped_ = 0;
    data_ = new char[bytes.size() + 1];
  } else {
    data_ = static_cast<char*>(p);
    (void)::mlock(data_, mapped_);
    (void)::madvise(data_, mapped_, MADV_DONTDUMP);
  }
  bytes.copy(data_, bytes.size());
  size_ = bytes.size();
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : data_(other.data_), size_(other.size_), mapped_(other.mapped_) {
  other.data_ = nullptr;
  other.size_ = other.mapped_ = 0;
}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    mapped_ = other.mapped_;
    other.data_ = nullptr;
    other.size_ = other.mapped_ = 0;
  }
  return *this;
}

SecretBuffer::~SecretBuffer() {
  release();
}

void SecretBuffer::release() {
  if (!data_) return;
  ::explicit_bzero(data_, size_);
  if (mapped_ > 0)
    ::munmap(data_, mapped_);
  else
    delete[] data_;
  data_ = nullptr;
  size_ = mapped_ = 0;
}

void wipe(std::string& s) {
  if (!s.empty()) ::explicit_bzero(s.data(), s.size());
  s.clear();
}

namespace {

// One token file; nullopt when it is absent.
Result<std::optional<SecretBuffer>> load_one(int dir_fd, const std::string& dir,
                                             const std::string& name, uid_t owner) {
  const std::string path = dir + "/" + name;
  const int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<SecretBuffer>();
    if (errno == ELOOP) return Error{0, path + " is a symlink"};
    return sys_error("open " + path, errno);
  }
  UniqueFd file(fd);
  struct stat st;
  if (auto s = check(::fstat(fd, &st), "fstat " + path); !s) return s.error();
  if (!S_ISREG(st.st_mode)) return Error{0, path + " is not a regular file"};
  if (st.st_uid != owner)
    return Error{0, path + " is owned by uid " + std::to_string(st.st_uid) + ", not " +
                        std::to_string(owner)};
  if (st.st_mode & 077) return Error{0, path + " is readable or writable by group or others"};
  if (st.st_size > static_cast<off_t>(kMaxTokenSize))
    return Error{0, path + " is larger than " + std::to_string(kMaxTokenSize) + " bytes"};
  auto text = read_all(fd);
  if (!text) return text.error().within(path);
  std::string token = std::move(*text);
  if (!token.empty() && token.back() == '\n') token.pop_back();
  Result<std::optional<SecretBuffer>> out = std::optional<SecretBuffer>();
  if (token.empty()) {
    out = Error{0, path + " holds an empty token"};
  } else if (token.find('\n') != std::string::npos) {
    out = Error{0, path + " holds more than one line"};
  } else {
    for (unsigned char c : token) {
      if (c < 0x20 || c == 0x7f) {
        out = Error{0, path + " holds a control character"};
        break;
      }
    }
  }
  if (out) out = std::optional<SecretBuffer>(SecretBuffer(token));
  wipe(token);
  return out;
}

}  // namespace

Result<Tokens> load_tokens(const std::string& dir, uid_t owner) {
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0) return sys_error("open secrets directory " + dir, errno);
  UniqueFd dir_file(dir_fd);
  Tokens tokens;
  std::string problems;
  for (const char* name : {"github", "gitlab"}) {
    auto token = load_one(dir_fd, dir, name, owner);
    if (!token) {
      problems += (problems.empty() ? "" : "; ") + token.error().message;
      continue;
    }
    (std::string_view(name) == "github" ? tokens.github : tokens.gitlab) = std::move(*token);
  }
  if (!problems.empty()) return Error{0, problems};
  return tokens;
}

}  // namespace acctl::vault
