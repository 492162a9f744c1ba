// What `weir repl` prints with, in C++: SQL results straight from libpq's PGresult into psql's
// formats (pg/result_format), with FETCH_COUNT-style cursor streaming, tables the describe
// commands build, and where output goes (\o FILE, \o |COMMAND, the pager). stdlib/repl.lua calls
// these through the `terminal` table cmd_repl.cpp hands it:
//
//   query(db, sql, settings) -> kind, tag, rows   runs one statement and prints its result
//   table(t, settings)                            prints {headers, right, rows, footers, count}
//   emit(text, settings)                          writes text where results go (paged)
//   output([target]) -> true | nil, message       \o: nil for stdout, "|cmd", or a file
//
// settings: format, border, expanded ("off"|"on"|"auto"), tuples_only, footer, null, fieldsep,
// fieldsep_zero, recordsep, recordsep_zero, csv_fieldsep, title, tableattr, columns (the
// terminal's width for \x auto), pager (may page), batch (rows a FETCH: 0 reads the whole result).
//
// Contract: a result is printed from the PGresult itself (no copy into Lua), so aligned output
// needs the memory of the result and no more; with `batch` > 0 at most `batch` rows are held.
#pragma once

#include <lua.hpp>

namespace weir::cli {

// Sets the functions above in the table on top of the stack.
void add_print_functions(lua_State* L);

// Closes a \o file or pipe (at the end of the session).
void close_query_output();

}  // namespace weir::cli
