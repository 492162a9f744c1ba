// The REPL's terminal: reading lines (libedit with history and tab completion on a TTY, plain
// reads from a pipe), showing long output through a pager, and editing text in $EDITOR.
// Nothing here knows Lua; cmd_repl.cpp connects it to stdlib/repl.lua.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weir::cli {

class LineReader {
 public:
  enum class Read { line, eof, interrupted };
  // Candidates for the word between byte offsets [start, end) of `line`; `append` is what
  // follows a unique match (a space after a command, nothing after a Lua field).
  using Completer = std::function<std::vector<std::string>(const std::string& line, int start,
                                                           int end, std::string& append)>;

  // `interactive`: stdin is a terminal, so use libedit. `history_file` ("" for none) is read
  // now and written back, capped, when the reader is destroyed.
  LineReader(bool interactive, std::string history_file);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // One line without its newline. `interrupted` when SIGINT arrived while waiting (the
  // partial line is dropped); the prompt is only shown when interactive.
  Read read(const std::string& prompt, std::string& line);
  // Adds a whole chunk (possibly several lines) to the history.
  void remember(const std::string& chunk);
  void set_completer(Completer completer);
  bool interactive() const { return interactive_; }

 private:
  bool interactive_;
  std::string history_file_;
};

// Sets LC_CTYPE from the environment (LC_ALL, LC_CTYPE, LANG), or to C.UTF-8 when that does not
// name a UTF-8 locale: the REPL's input and output are UTF-8, libedit decodes typed characters by
// LC_CTYPE, and pg::display_width measures them by it. Call it before the first LineReader.
void use_utf8_ctype();

// The terminal's size (rows, columns) when stdout is one, else nullopt.
std::optional<std::pair<int, int>> terminal_size();

// Writes `text` through $PAGER (default "less -FRSX", then "more"; set but empty: none) when
// stdout is a terminal and the text is taller than it; otherwise to stdout. Returns false when the
// pager could not be started (the text was then written to stdout).
bool show_paged(const std::string& text);

// The pager's pipe when output of `lines` lines to stdout should be paged (stdout is a terminal
// shorter than that and PAGER is not set empty); nullptr when it should go to stdout, or when the
// pager could not be started (`*failed` then true). SIGPIPE is ignored until close_pager.
FILE* open_pager(long lines, bool* failed = nullptr);
void close_pager(FILE* pager);

// Writes `text` to a temporary file named with `suffix` (".lua", ".sql"), runs $VISUAL or
// $EDITOR (default "vi") on it and returns what the file holds afterwards; nullopt with `error`
// set when the editor failed.
std::optional<std::string> edit_text(const std::string& text, const std::string& suffix,
                                     std::string& error);

}  // namespace weir::cli
