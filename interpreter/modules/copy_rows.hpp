// The rows of copy.table's data path, for the Lua module "copy.core" (mod_copy.cpp adds these
// functions to it): a transform's batch read with COPY binary into lazy Lua rows (a column decoded
// when the transform reads it), and Lua rows written back with COPY binary (a column the transform
// did not set as the source sent it), or COPY text when a value has no binary form weir writes. The
// binary format itself: pg/copy_binary.hpp.
//   read(src, select_sql [, plan [, lazy]]) -> rows, columns
//                                                       a batch as typed Lua rows: COPY text, or
//                                                       with a plan COPY binary decoded in C++
//                                                       (lazy: columns decoded when read)
//   read_plan(src, select_sql) -> plan                  how each column of a query is read: its
//                                                       binary form, or the server's text of it
//                                                       (plan:list() is the select list to use)
//   fetch(src, select_sql) -> pending                   starts that COPY binary on a thread of its
//                                                       own (src is the thread's until take)
//   take(pending, plan [, lazy]) -> rows, columns       waits for it and decodes its rows
//   discard(pending)                                    waits for it and drops its rows
//   write(dst, table, columns, rows [, plan]) -> n, how
//                                                       Lua rows into `table`: COPY binary, sent
//                                                       as encoded when sure ("binary, streamed"),
//                                                       else all converted before the COPY starts
//                                                       ("binary", or "text")
//   write_plan(dst, table, columns) -> plan             the target columns' types, asked once
//   materialize(row)                                    decodes a lazy row's pending columns
//   columns_of(rows, seen)                              seen[name] = true for every string key
//                                                       of the rows (a lazy row's pending too)
#pragma once

#include <lua.hpp>

namespace weir::modules {

// Adds the functions above to the table at the top of the stack (and registers their
// userdata types).
void add_copy_rows(lua_State* L);

}  // namespace weir::modules
