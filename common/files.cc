#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/log.h"

namespace swg {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string ErrnoText(int err) { return std::strerror(err); }

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  Fd f;
  f.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) return Error{"cannot open " + path + ": " + ErrnoText(errno), errno};
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{"cannot read " + path + ": " + ErrnoText(errno), errno};
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return Error{"cannot read " + path + ": larger than " + std::to_string(max_bytes) + " bytes", EFBIG};
    }
  }
  return out;
}

Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  std::string dir = DirName(path);
  std::string tmpl = path + ".tmp.XXXXXX";
  Fd f;
  f.fd = mkostemp(tmpl.data(), O_CLOEXEC);
  if (f.fd < 0) return Error{"cannot create a temporary file in " + dir + ": " + ErrnoText(errno), errno};
  auto fail = [&](const char* what) {
    int err = errno;
    unlink(tmpl.c_str());
    return Error{std::string(what) + " " + path + ": " + ErrnoText(err), err};
  };
  if (fchmod(f.fd, mode) != 0) return fail("cannot set the mode of");
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(f.fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(f.fd) != 0) return fail("cannot sync");
  if (close(f.fd) != 0) {
    f.fd = -1;
    return fail("cannot close");
  }
  f.fd = -1;
  if (rename(tmpl.c_str(), path.c_str()) != 0) return fail("cannot rename a temporary file to");
  Fd d;
  d.fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd >= 0) fsync(d.fd);
  return Ok();
}

Status EnsureDirectory(const std::string& dir, mode_t mode) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error{dir + " exists and is not a directory", ENOTDIR};
    return Ok();
  }
  if (errno != ENOENT) return Error{"cannot access " + dir + ": " + ErrnoText(errno), errno};
  std::string parent = DirName(dir);
  if (parent != dir) {
    if (auto st2 = EnsureDirectory(parent, 0755); !st2.ok()) return st2;
  }
  if (mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return Error{"cannot create directory " + dir + ": " + ErrnoText(errno), errno};
  }
  chmod(dir.c_str(), mode);  // mkdir applies the umask; the key directory must be exactly `mode`
  return Ok();
}

Status EnsurePrivateDirectory(const std::string& dir) {
  if (auto st = EnsureDirectory(dir, 0700); !st.ok()) return st;
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return Error{"cannot access " + dir + ": " + ErrnoText(errno), errno};
  mode_t was = st.st_mode & 07777;
  if (was == 0700) return Ok();
  if (chmod(dir.c_str(), 0700) != 0) {
    return Error{"cannot make " + dir + " private (mode 0700): " + ErrnoText(errno), errno};
  }
  char mode[8];
  snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(was));
  log::Info("made the directory private (mode 0700)", {{"dir", dir}, {"was", mode}});
  return Ok();
}

}  // namespace swg
