// The REPL's terminal: reading lines (libedit with history and tab completion on a TTY, plain
// reads from a pipe), showing long output through a pager, and editing text in $EDITOR.
// Nothing here knows Lua; cmd_repl.cpp connects it to stdlib/repl.lua.
#pragma once

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
// LC_CTYPE, and display_width measures them by it. Call it before the first LineReader.
void use_utf8_ctype();

// The columns UTF-8 `text` takes on a terminal: wcwidth() of each character (2 for CJK and most
// emoji, 0 for combining marks), but at least `at_least`; a character wcwidth() does not know
// (a control character, an unassigned code point) and a byte that is not UTF-8 count 1.
int display_width(std::string_view text, int at_least = 0);

// The terminal's size (rows, columns) when stdout is one, else nullopt.
std::optional<std::pair<int, int>> terminal_size();

// Writes `text` through $PAGER (default "less -FRSX", then "more"; set but empty: none) when
// stdout is a terminal and the text is taller than it; otherwise to stdout. Returns false when the
// pager could not be started (the text was then written to stdout).
bool show_paged(const std::string& text);

// Writes `text` to a temporary file named with `suffix` (".lua", ".sql"), runs $VISUAL or
// $EDITOR (default "vi") on it and returns what the file holds afterwards; nullopt with `error`
// set when the editor failed.
std::optional<std::string> edit_text(const std::string& text, const std::string& suffix,
                                     std::string& error);

}  // namespace weir::cli
