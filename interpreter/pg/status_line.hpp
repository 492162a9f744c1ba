// The line on stderr that says what weir is doing now: a phase that runs, a copy and its
// numbers. stdlib/progress.lua decides what it says; this file decides when and how it shows.
//
// Two styles:
//   kTerminal  one line drawn in place: "\r", the text cut to the terminal's width less one
//              column, then "\x1b[K" (erase to the end of the line), so a shorter text leaves
//              nothing of a longer one behind and the line never wraps. Drawn at each update
//              (at most ten times a second) and every second by a thread, so the elapsed time
//              moves while one long statement runs. Other output goes through write_line,
//              which erases the line, writes, and draws it again under it.
//   kPlain     for logs: while something runs, one whole line every `interval` seconds, written
//              by the thread (a CI log shows life during a long statement too).
//
// Guarantee: nothing is written while nothing has begun; end() (and the destructor) erase a
// drawn line before returning; every write is whole lines or one in-place line, made under one
// mutex. The thread blocks every signal and never throws. Tested by tests/unit/test_status_line.cpp
// and tests/cli/progress_test.lua.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace weir::pg {

class StatusLine {
 public:
  enum class Style { kTerminal, kPlain };

  // Writes to file descriptor `fd`. `interval_seconds` is the plain style's period; `width` the
  // terminal's columns (0: asked of `fd` at each draw, else $COLUMNS, else 80).
  StatusLine(int fd, Style style, double interval_seconds, int width = 0);
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  // Something started: `label` (e.g. "001_x:backfill") is shown with its elapsed time. A
  // second begin replaces the first.
  void begin(const std::string& label);
  // What it is doing now ("copy things: 1200 rows …"); "" for nothing but the elapsed time.
  void detail(const std::string& text);
  // It ended: the line is erased. Returns how many plain lines were written since begin.
  int end();
  // A whole line of other output ("\n" added): on a terminal the live line is erased first and
  // drawn again after it.
  void write_line(const std::string& line);
  // Around output written elsewhere (a script's print on stdout, the same terminal): erase the
  // live line, then draw it again.
  void clear();
  void redraw();
  bool active() const;

  // The text of the line: "weir: LABEL (ELAPSED): DETAIL", or "…: running" without a detail.
  static std::string render(const std::string& label, const std::string& detail, double elapsed);
  // `text` cut to at most `width` display columns, ending in "..." when it was cut.
  static std::string fit(const std::string& text, int width);
  // "12s", "4m05s", "1h02m".
  static std::string elapsed_text(double seconds);

 private:
  using Clock = std::chrono::steady_clock;
  void run();                    // the thread
  void draw_locked(bool force);  // terminal: the line now
  void erase_locked();
  void write_all(const std::string& bytes) noexcept;
  int columns() const;
  double elapsed_locked() const;

  const int fd_;
  const Style style_;
  const double interval_;
  const int width_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
  bool stop_ = false;
  bool active_ = false;
  bool drawn_ = false;  // the terminal line is on screen
  std::string label_, detail_;
  Clock::time_point started_{}, last_draw_{}, next_plain_{};
  int plain_lines_ = 0;
};

}  // namespace weir::pg
