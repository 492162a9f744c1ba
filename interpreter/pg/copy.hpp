// The data path of the copy module: COPY between two connections, and COPY's text format for
// rows that pass through a transform. No Lua here; stdlib/copy.lua drives batches, checkpoints
// and quarantine over these.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace weir::pg {

class Connection;

using Field = std::optional<std::string>;  // nullopt is NULL
using Row = std::vector<Field>;

// Streams `COPY (select) TO STDOUT` on `src` into `COPY … FROM STDIN` on `dst` without looking
// at the rows (both statements name the same format, binary or text). Returns the row count
// the source reported. On any failure both COPYs are ended before the error propagates, so
// both connections stay usable (dst's transaction is then aborted, as with any failed
// statement).
long long pipe_copy(Connection& src, const std::string& copy_out_sql, Connection& dst,
                    const std::string& copy_in_sql);

// One line of COPY's text format (without the newline) → fields. Throws std::runtime_error on
// a malformed line.
Row parse_text_line(const char* data, size_t n);

// Fields → one line of COPY's text format, newline included, appended to `out`.
void append_text_line(const Row& row, std::string& out);

}  // namespace weir::pg
