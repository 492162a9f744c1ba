// Regular expressions for JSON Schema's `pattern` and `patternProperties`, on PCRE2, in plain
// C++ (no Lua).
//
// JSON Schema patterns are ECMA-262 regular expressions. Regex compiles one for PCRE2 with the
// options and rewrites that give ECMA-262's meaning where the two differ (docs/json.md lists
// them): `$` only at the very end, `.` not matching any line terminator, `\s`/`\S` with
// ECMA-262's Unicode white space, `\uXXXX` escapes, `[]` and `[^]`. Strings are UTF-8; invalid
// UTF-8 never fails a match.
//
// Guarantee (tests/unit/test_json_regex.cpp, tests/cli/fuzz_test.lua): matching never recurses
// on the C stack (PCRE2 keeps its backtracking state on the heap, JIT code on a stack of its
// own), and it is bounded: a match that needs more than kMatchLimit backtracking steps or
// kHeapLimitKiB of memory stops with RegexLimitError instead of running for hours or crashing.
// Compiled patterns are cached for the process (kCacheSize of them), JIT-compiled where PCRE2
// supports it, so validating many values against one schema compiles each pattern once.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace weir::json {

// Matching gave up at a limit (see above): what() says which, in one line ("gave up after …").
struct RegexLimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Regex {
 public:
  static constexpr unsigned kMatchLimit = 10'000'000;  // PCRE2's own default
  static constexpr unsigned kHeapLimitKiB = 256 * 1024;
  static constexpr size_t kCacheSize = 512;

  // Throws std::invalid_argument ("invalid pattern \"…\": REASON at offset N") when PCRE2
  // cannot compile it.
  explicit Regex(const std::string& pattern);

  // True when the pattern matches somewhere in `text` (unanchored, as JSON Schema's `pattern`
  // is). Throws RegexLimitError at a limit.
  bool search(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

  struct Compiled;

 private:
  std::string pattern_;
  std::shared_ptr<const Compiled> code_;
};

// `text` (a pattern, a $ref, a pointer) as error messages show it: at most 60 characters.
std::string shortened(const std::string& text);

// The PCRE2 pattern weir compiles for the ECMA-262 `pattern` (exposed for the unit tests).
std::string ecma_to_pcre2(const std::string& pattern);

}  // namespace weir::json
