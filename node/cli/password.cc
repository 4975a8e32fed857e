#include "node/cli/password.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>

#include "common/file_util.h"

namespace agora::node {
namespace {

// Echo goes off (and what was typed before the prompt is dropped) before
// the prompt is shown, as getpass does: whatever answers the prompt, a
// person or a program that waits for it, is never flushed or echoed.
Result<std::string> PromptOnce(int tty, const char* prompt) {
  termios saved{};
  bool restore = ::tcgetattr(tty, &saved) == 0;
  if (restore) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  if (::write(tty, prompt, std::char_traits<char>::length(prompt)) < 0) {
    if (restore) ::tcsetattr(tty, TCSAFLUSH, &saved);
    return Status::IoError("cannot write to the terminal");
  }
  std::string line;
  char c = 0;
  while (line.size() <= kPasswordBytesMax && ::read(tty, &c, 1) == 1 && c != '\n') line += c;
  if (restore) ::tcsetattr(tty, TCSAFLUSH, &saved);
  if (::write(tty, "\n", 1) < 0) {
    // Only the cosmetic newline was lost; the password was read.
  }
  if (line.size() > kPasswordBytesMax) return Status::InvalidArgument("password too long");
  return line;
}

}  // namespace

Result<std::string> ReadPassword(const std::string& password_file, bool confirm) {
  if (!password_file.empty()) {
    AGORA_ASSIGN_OR_RETURN(std::string text, ReadFile(password_file, kPasswordBytesMax));
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.empty()) {
      return Status::InvalidArgument("password file '" + password_file + "' is empty");
    }
    return text;
  }
  int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0) {
    return Status::FailedPrecondition(
        "no terminal to ask for a password; pass --password-file FILE");
  }
  auto first = PromptOnce(tty, "Password: ");
  Result<std::string> result = first;
  if (first.ok() && confirm) {
    auto second = PromptOnce(tty, "Repeat password: ");
    if (!second.ok()) {
      result = second.status();
    } else if (*second != *first) {
      result = Status::InvalidArgument("the two passwords differ; nothing was written");
    }
  }
  ::close(tty);
  if (result.ok() && result->empty()) {
    return Status::InvalidArgument("the password must not be empty");
  }
  return result;
}

}  // namespace agora::node
