// Help for `weir repl`, from what is on the machine and in the binary: SQL syntax for \h (psql's
// own \h when psql is installed and a database is connected, else PostgreSQL's manual pages of
// SQL commands, man7), and grammar/*.lua (embedded at build time) for `help(fn)`. Functions for
// stdlib/repl_help.lua through the `terminal` table:
//
//   sql_help(topic [, db]) -> text | nil, message   "" lists the commands, as psql's \h does
//   grammar(name) -> text | nil                      grammar/NAME.lua as built into weir
#pragma once

#include <lua.hpp>

namespace weir::cli {

// Sets sql_help and grammar in the table on top of the stack.
void add_help_functions(lua_State* L);

}  // namespace weir::cli
