// Durations (see duration.hpp).
#include "pg/duration.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace weir::pg {

namespace {

const char* const kDurationForms =
    "a number of %s, or a number with ms, s, min or h: 500ms, 1.5s, 15min, 1h";

bool is_decimal(const std::string& s) {
  size_t digits = 0, dots = 0;
  for (char c : s) {
    if (c >= '0' && c <= '9')
      ++digits;
    else if (c == '.' && ++dots == 1)
      continue;
    else
      return false;
  }
  return digits > 0;
}

std::string forms(double unit_ms) {
  char buf[128];
  std::snprintf(buf, sizeof buf, kDurationForms, unit_ms == 1 ? "milliseconds" : "seconds");
  return buf;
}

}  // namespace

bool duration_of_number(double value, double unit_ms, long long& ms, std::string& why) {
  double total = value * unit_ms;
  if (!std::isfinite(total) || total < 0) {
    why = "is not a duration: expected " + forms(unit_ms);
    return false;
  }
  if (total > static_cast<double>(kMaxDurationMs)) {
    why = "is too long: at most 24.8 days (2147483647ms, PostgreSQL's limit for its timeouts)";
    return false;
  }
  if (total != std::floor(total)) {
    why = "is not a whole number of milliseconds";
    return false;
  }
  ms = static_cast<long long>(total);
  return true;
}

bool parse_duration(const std::string& text, double unit_ms, long long& ms, std::string& why) {
  size_t end = text.find_first_not_of("0123456789.");
  std::string number = text.substr(0, end);
  std::string unit = end == std::string::npos ? "" : text.substr(end);
  // "500 ms" as PostgreSQL takes it: one space, and only before a unit
  if (unit.size() > 1 && unit[0] == ' ') unit.erase(0, 1);
  double scale = unit.empty()    ? unit_ms
                 : unit == "ms"  ? 1
                 : unit == "s"   ? 1000
                 : unit == "min" ? 60000
                 : unit == "h"   ? 3600000
                                 : -1;
  if (!is_decimal(number) || scale < 0) {
    why = "is not a duration: expected " + forms(unit_ms);
    return false;
  }
  return duration_of_number(std::strtod(number.c_str(), nullptr), scale, ms, why);
}

}  // namespace weir::pg
