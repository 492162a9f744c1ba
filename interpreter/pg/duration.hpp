// Durations as weir's settings take them, one rule wherever a duration is written: the
// command line (--lock-timeout, --statement-timeout, --lock-wait), weir.lua (lock_timeout,
// statement_timeout, lock_wait), a phase's `timeout`, weir.duration, weir.deadline and
// weir.sleep. Plain C++, no Lua.
//
// A duration is a number in the setting's unit (`unit_ms`: milliseconds for the timeouts,
// seconds for lock_wait and a phase's timeout), or a number with a unit — ms, s, min or h —
// optionally after one space, as PostgreSQL writes them ("500ms", "1.5s", "10 min", "1h"). The
// number is a plain decimal (digits and at most one '.'; no sign, exponent or white space
// around it); the result must be a whole number of milliseconds from 0 to kMaxDurationMs,
// PostgreSQL's limit for its timeouts (24.8 days): anything longer is refused, never capped, so
// a huge value cannot overflow a clock. Tests: tests/cli/duration_test.lua (the command line,
// weir.lua and a phase's timeout agree on every sample).
#pragma once

#include <string>

namespace weir::pg {

constexpr long long kMaxDurationMs = 2147483647;

// Fills `ms`, or returns false with `why` ("is not a duration: expected …", "is too long: …").
bool parse_duration(const std::string& text, double unit_ms, long long& ms, std::string& why);
// The same for a number already read (a Lua number, a command-line value): `value` units.
bool duration_of_number(double value, double unit_ms, long long& ms, std::string& why);

}  // namespace weir::pg
