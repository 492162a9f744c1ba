// REPL terminal (see repl_terminal.hpp). libedit through its readline interface: one global
// editor per process, so the completer lives in a file-level variable.
#include "cli/repl_terminal.hpp"

#include <editline/readline.h>
#include <langinfo.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include <algorithm>
#include <cerrno>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "lua/runtime.hpp"
#include "pg/text_width.hpp"

namespace weir::cli {

namespace {

constexpr int kHistoryLines = 2000;

LineReader::Completer g_completer;
std::vector<std::string> g_matches;

// Bytes read past the start of a sequence that turned out not to be UTF-8: the next keys.
std::string g_unread;

// One byte of input, or EOF at the end of input, on an error or when a Ctrl-C is pending. A
// SIGINT (installed without SA_RESTART) ends the wait.
int read_byte(int fd) {
  if (!g_unread.empty()) {
    unsigned char c = g_unread.front();
    g_unread.erase(0, 1);
    return c;
  }
  for (;;) {
    // A Ctrl-C that came in while the previous key was being handled counts now.
    if (lua::pending_interrupt()) return EOF;
    unsigned char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n == 1) return c;
    if (n < 0 && errno == EINTR && !lua::pending_interrupt()) continue;
    return EOF;
  }
}

// libedit reads keys through this (so that Ctrl-C returns from readline(): EOF makes it return
// NULL, and the pending signal tells that from Ctrl-D). Its readline interface takes what this
// returns as a wchar_t, so a UTF-8 sequence is decoded into its code point here; a byte that
// starts or continues no valid sequence is returned as itself.
int read_key(FILE* in) {
  int fd = fileno(in);
  int lead = read_byte(fd);
  int n = lead == EOF ? 0 : pg::utf8_sequence_length(static_cast<unsigned char>(lead));
  if (n == 0) return lead;  // EOF, ASCII, or a byte that starts no character
  unsigned char b[4] = {static_cast<unsigned char>(lead)};
  int got = 1;
  while (got < n) {
    int c = read_byte(fd);
    if (c == EOF) break;
    b[got++] = static_cast<unsigned char>(c);
    if ((c & 0xC0) != 0x80) break;
  }
  if (got == n) {
    long cp = pg::utf8_decode(b, n);
    if (cp >= 0) return static_cast<int>(cp);
  } else if (lua::pending_interrupt()) {
    return EOF;  // Ctrl-C in the middle of a character: the line is dropped anyway
  }
  g_unread.insert(0, reinterpret_cast<const char*>(b + 1), got - 1);
  return lead;
}

char* next_match(const char*, int state) {
  static size_t i;
  if (state == 0) i = 0;
  if (i >= g_matches.size()) return nullptr;
  return strdup(g_matches[i++].c_str());
}

char** complete(const char* text, int start, int end) {
  rl_attempted_completion_over = 1;  // never fall back to file names
  if (!g_completer) return nullptr;
  std::string append = " ";
  try {
    g_matches = g_completer(rl_line_buffer ? rl_line_buffer : "", start, end, append);
  } catch (...) {
    g_matches.clear();
  }
  if (g_matches.empty()) return nullptr;
  rl_completion_append_character = append.empty() ? '\0' : append[0];
  return rl_completion_matches(text, next_match);
}

}  // namespace

LineReader::LineReader(bool interactive, std::string history_file)
    : interactive_(interactive), history_file_(std::move(history_file)) {
  if (!interactive_) return;
  rl_readline_name = const_cast<char*>("weir");
  rl_catch_signals = 0;
  rl_getc_function = read_key;
  rl_attempted_completion_function = complete;
  // Words break at spaces, quotes and punctuation, but not at . : or \, so `schema.ins`,
  // `db:qu` and `\dt` are completed as one word.
  static char breaks[] = " \t\n\"'`@$><=;|&{(,)}+-*/%^#~[]";
  rl_completer_word_break_characters = breaks;
  rl_basic_word_break_characters = breaks;  // libedit splits words with this one
  using_history();
  stifle_history(kHistoryLines);
  if (!history_file_.empty()) read_history(history_file_.c_str());
}

LineReader::~LineReader() {
  if (!interactive_ || history_file_.empty()) return;
  write_history(history_file_.c_str());
}

LineReader::Read LineReader::read(const std::string& prompt, std::string& line) {
  line.clear();
  if (interactive_) {
    char* got = readline(prompt.c_str());
    if (!got) {
      if (!lua::pending_interrupt()) return Read::eof;
      g_unread.clear();  // what was typed before the Ctrl-C goes with the line
      return Read::interrupted;
    }
    line = got;
    std::free(got);
    return Read::line;
  }
  char buf[4096];
  for (;;) {
    if (std::fgets(buf, sizeof buf, stdin)) {
      line += buf;
      if (!line.empty() && line.back() == '\n') {
        line.pop_back();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return Read::line;
      }
      continue;  // a line longer than the buffer
    }
    if (std::ferror(stdin) && errno == EINTR && lua::pending_interrupt()) {
      std::clearerr(stdin);
      line.clear();
      return Read::interrupted;
    }
    return line.empty() ? Read::eof : Read::line;
  }
}

void LineReader::remember(const std::string& chunk) {
  if (interactive_ && !chunk.empty()) add_history(chunk.c_str());
}

void LineReader::set_completer(Completer completer) {
  g_completer = std::move(completer);
}

void use_utf8_ctype() {
  if (std::setlocale(LC_CTYPE, "") && std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0) return;
  std::setlocale(LC_CTYPE, "C.UTF-8");  // when that fails too, widths fall back to 1 a character
}

std::optional<std::pair<int, int>> terminal_size() {
  if (!isatty(STDOUT_FILENO)) return std::nullopt;
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0) return std::nullopt;
  return std::make_pair(static_cast<int>(ws.ws_row), static_cast<int>(ws.ws_col));
}

namespace {

void (*g_pipe_handler)(int) = SIG_DFL;

}  // namespace

FILE* open_pager(long lines, bool* failed) {
  if (failed) *failed = false;
  auto size = terminal_size();
  const char* pager = std::getenv("PAGER");
  if (!size || lines < size->first - 1 || (pager && !*pager)) return nullptr;  // PAGER="": none
  std::string command = pager ? pager : "less -FRSX 2>/dev/null || more";
  std::fflush(stdout);
  // The pager owns the terminal until it exits: Ctrl-C is its business, and a pager quit
  // early must not kill weir with SIGPIPE.
  g_pipe_handler = std::signal(SIGPIPE, SIG_IGN);
  FILE* p = popen(command.c_str(), "w");
  if (!p) {
    std::signal(SIGPIPE, g_pipe_handler);
    if (failed) *failed = true;
  }
  return p;
}

void close_pager(FILE* pager) {
  if (!pager) return;
  pclose(pager);
  std::signal(SIGPIPE, g_pipe_handler);
}

bool show_paged(const std::string& text) {
  long lines = 0;
  for (char c : text)
    lines += c == '\n';
  bool failed = false;
  FILE* p = open_pager(lines, &failed);
  std::fwrite(text.data(), 1, text.size(), p ? p : stdout);
  if (p) {
    close_pager(p);
  } else {
    std::fflush(stdout);
  }
  return !failed;
}

std::optional<std::string> edit_text(const std::string& text, const std::string& suffix,
                                     std::string& error) {
  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/weir-edit-XXXXXX" + suffix;
  std::vector<char> name(path.begin(), path.end());
  name.push_back('\0');
  int fd = mkstemps(name.data(), static_cast<int>(suffix.size()));
  if (fd < 0) {
    error = std::string("cannot create a temporary file: ") + std::strerror(errno);
    return std::nullopt;
  }
  path = name.data();
  std::string body = text.empty() || text.back() == '\n' ? text : text + "\n";
  bool written = ::write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size());
  ::close(fd);
  if (!written) {
    error = "cannot write " + path;
    std::remove(path.c_str());
    return std::nullopt;
  }
  const char* editor = std::getenv("VISUAL");
  if (!editor || !*editor) editor = std::getenv("EDITOR");
  std::string command = std::string(editor && *editor ? editor : "vi") + " '" + path + "'";
  int status = std::system(command.c_str());
  if (status != 0) {
    error = "the editor (" + command + ") " +
            (WIFEXITED(status)     ? "exited with status " + std::to_string(WEXITSTATUS(status))
             : WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                   : "failed");
    std::remove(path.c_str());
    return std::nullopt;
  }
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  std::remove(path.c_str());
  return out.str();
}

}  // namespace weir::cli
