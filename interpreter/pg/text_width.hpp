// How wide UTF-8 text shows on a terminal, and how psql shows what does not print: the
// measures result_format.cpp aligns tables by and the REPL's line reader decodes keys with.
// Widths come from the C library's wcwidth() under the process's LC_CTYPE (the REPL sets a
// UTF-8 one): 2 for CJK and most emoji, 0 for combining marks.
#pragma once

#include <string>
#include <string_view>

namespace weir::pg {

// The length of the UTF-8 sequence `lead` starts (2 to 4); 0 when it starts none (ASCII, a
// continuation byte, a byte no UTF-8 uses).
int utf8_sequence_length(unsigned char lead);

// The code point of the sequence b[0..n), n = utf8_sequence_length(b[0]); -1 when it is not
// UTF-8 (a byte that does not continue it, an overlong form, a surrogate, past U+10FFFF).
long utf8_decode(const unsigned char* b, int n);

// The columns UTF-8 `text` takes: wcwidth() of each character, but at least `at_least`; a
// character wcwidth() does not know (a control character, an unassigned code point) and a byte
// that is not UTF-8 count 1.
int display_width(std::string_view text, int at_least = 0);

// A line of a value as psql prints it (mbprint.c): a tab becomes spaces up to the next multiple
// of 8 columns, a carriage return shows as \r, another control character as \x01, U+0080 to
// U+009F as \u0085. The text is one line (no '\n'). Returns its width; the shown text goes to
// `out` (appended).
int visible_line(std::string_view line, std::string& out);

// Whether every byte of `text` is printable ASCII (so it shows as itself, one column each).
bool plain_ascii(std::string_view text);

}  // namespace weir::pg
