// JSON Schema patterns on PCRE2 (see regex.hpp).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "json/regex.hpp"

#include <pcre2.h>

#include <mutex>
#include <unordered_map>

namespace weir::json {

namespace {

// ECMA-262 white space and line terminators (\s), and everything else (\S), as the insides of
// a character class.
const char* const kSpace =
    "\\t\\n\\u{b}\\f\\r\\u{20}\\u{a0}\\u{1680}\\u{2000}-\\u{200a}\\u{2028}\\u{2029}\\u{202f}"
    "\\u{205f}\\u{3000}\\u{feff}";
const char* const kNotSpace =
    "\\u{0}-\\u{8}\\u{e}-\\u{1f}\\u{21}-\\u{9f}\\u{a1}-\\u{167f}\\u{1681}-\\u{1fff}"
    "\\u{200b}-\\u{2027}\\u{202a}-\\u{202e}\\u{2030}-\\u{205e}\\u{2060}-\\u{2fff}"
    "\\u{3001}-\\u{fefe}\\u{ff00}-\\u{10ffff}";
// ECMA-262's `.`: anything but a line terminator.
const char* const kDot = "[^\\n\\r\\u{2028}\\u{2029}]";

constexpr uint32_t kCompileOptions = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY |
                                     PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS |
                                     PCRE2_NEVER_BACKSLASH_C;

// \uXXXX and \u{X…} as ECMA-262 writes them; \x takes exactly two hex digits, as there.
constexpr uint32_t kCompileExtraOptions = PCRE2_EXTRA_ALT_BSUX;

std::string compile_error(int code) {
  PCRE2_UCHAR buf[256];
  if (pcre2_get_error_message(code, buf, sizeof buf) < 0) return "error " + std::to_string(code);
  return reinterpret_cast<const char*>(buf);
}

// JIT code's own stack grows up to this (address space reserved when the thread first matches).
constexpr size_t kJitStackMax = 64 * 1024 * 1024;

// Per thread: the match context with the limits and a JIT stack of its own, so JIT code never
// runs on the thread's stack (which a long subject could exhaust).
struct MatchContext {
  pcre2_match_context* ctx = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchContext() {
    ctx = pcre2_match_context_create(nullptr);
    if (!ctx) return;
    pcre2_set_match_limit(ctx, Regex::kMatchLimit);
    pcre2_set_depth_limit(ctx, Regex::kMatchLimit);
    pcre2_set_heap_limit(ctx, Regex::kHeapLimitKiB);
    jit_stack = pcre2_jit_stack_create(32 * 1024, kJitStackMax, nullptr);
    if (jit_stack) pcre2_jit_stack_assign(ctx, nullptr, jit_stack);
  }
  ~MatchContext() {
    if (jit_stack) pcre2_jit_stack_free(jit_stack);
    if (ctx) pcre2_match_context_free(ctx);
  }
  MatchContext(const MatchContext&) = delete;
  MatchContext& operator=(const MatchContext&) = delete;
};

pcre2_match_context* match_context() {
  thread_local MatchContext m;
  if (!m.ctx) throw std::bad_alloc();
  return m.ctx;
}

}  // namespace

std::string shortened(const std::string& text) {
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

std::string ecma_to_pcre2(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char d = p[++i];
      if (d == 's' || d == 'S') {
        const char* set = d == 's' ? kSpace : kNotSpace;
        out += in_class ? std::string(set) : "[" + std::string(set) + "]";
      } else {
        out += c;
        out += d;
      }
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out += c;
    } else if (c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
    } else if (c == '.') {
      out += kDot;
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::shared_ptr<const Regex::Compiled> compile(const std::string& pattern) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::shared_ptr<const Regex::Compiled>> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(pattern);
    if (it != cache.end()) return it->second;
  }
  std::string translated = ecma_to_pcre2(pattern);
  int code = 0;
  PCRE2_SIZE offset = 0;
  auto compiled = std::make_shared<Regex::Compiled>();
  struct CompileContext {
    pcre2_compile_context* ctx = pcre2_compile_context_create(nullptr);
    ~CompileContext() { pcre2_compile_context_free(ctx); }
  } context;
  if (!context.ctx) throw std::bad_alloc();
  pcre2_set_compile_extra_options(context.ctx, kCompileExtraOptions);
  compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                 kCompileOptions, &code, &offset, context.ctx);
  if (!compiled->code) {
    // The offset is in the translated pattern; it is the same as in the pattern up to the first
    // rewritten \s, \S or `.`, which is where most mistakes are found.
    throw std::invalid_argument("invalid pattern \"" + shortened(pattern) + "\": " +
                                compile_error(code) + " at offset " + std::to_string(offset));
  }
  uint32_t has_jit = 0;
  if (pcre2_config(PCRE2_CONFIG_JIT, &has_jit) >= 0 && has_jit)
    compiled->jit = pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE) == 0;
  std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() >= Regex::kCacheSize) cache.clear();
  cache.emplace(pattern, compiled);
  return compiled;
}

}  // namespace

Regex::Regex(const std::string& pattern) : pattern_(pattern), code_(compile(pattern)) {}

bool Regex::search(std::string_view text) const {
  struct MatchData {
    pcre2_match_data* data;
    ~MatchData() { pcre2_match_data_free(data); }
  } md{pcre2_match_data_create(1, nullptr)};
  if (!md.data) throw std::bad_alloc();
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = pcre2_match(code_->code, subject, text.size(), 0, 0, md.data, match_context());
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // the interpreter keeps its state on the heap instead
    rc = pcre2_match(code_->code, subject, text.size(), 0, PCRE2_NO_JIT, md.data, match_context());
  if (rc >= 0) return true;
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  switch (rc) {
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
      throw RegexLimitError("gave up after " + std::to_string(kMatchLimit) +
                            " backtracking steps on a string of " + std::to_string(text.size()) +
                            " bytes (nested quantifiers such as (a*)* or (a|a)* backtrack "
                            "exponentially): simplify the pattern");
    case PCRE2_ERROR_HEAPLIMIT:
      throw RegexLimitError("needs more than " + std::to_string(kHeapLimitKiB / 1024) +
                            " MB to match a string of " + std::to_string(text.size()) +
                            " bytes: simplify the pattern");
    default:
      throw RegexLimitError("could not be matched: " + compile_error(rc));
  }
}

}  // namespace weir::json
