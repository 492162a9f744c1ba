-- db:copy_in and db:copy_out, and COPY … FROM STDIN / TO STDOUT refused (but finished, leaving
-- the connection and its transaction usable) when sent through query, one, value or exec.
local T = require "testing"

db:exec "DROP TABLE IF EXISTS copy_t; CREATE TABLE copy_t (a int PRIMARY KEY, b text)"

T.case("copy_in sends text and CSV data; copy_out returns it with the row count", function()
  T.eq(db:copy_in("COPY copy_t FROM STDIN", "1\tx\n2\t\\N\n"), 2)
  T.eq(db:copy_in("COPY copy_t (a, b) FROM STDIN (FORMAT csv, HEADER)", 'a,b\n3,"with, comma"\n'), 1)
  T.eq(db:copy_in("COPY copy_t FROM STDIN", ""), 0)
  local data, n = db:copy_out("COPY copy_t TO STDOUT")
  T.eq({ data, n }, { "1\tx\n2\t\\N\n3\twith, comma\n", 3 })
  data, n = db:copy_out("COPY (SELECT a, b FROM copy_t WHERE a > 1 ORDER BY a) TO STDOUT (FORMAT csv, HEADER)")
  T.eq({ data, n }, { 'a,b\n2,\n3,"with, comma"\n', 2 })
  -- a large copy goes in chunks
  local rows = {}
  for i = 10, 20009 do rows[#rows + 1] = i .. "\t" .. string.rep("v", 40) end
  T.eq(db:copy_in("COPY copy_t FROM STDIN", table.concat(rows, "\n") .. "\n"), 20000)
  T.eq(db:value "SELECT count(*) FROM copy_t", 20003)
  db:exec "DELETE FROM copy_t WHERE a >= 10"
end)

T.case("bad data is the server's error, and nothing of it is kept", function()
  local err = T.raises(function() db:copy_in("COPY copy_t FROM STDIN", "100\tok\nzz\tbad\n") end)
  T.eq(err.sqlstate, "22P02")
  T.eq(db:value "SELECT count(*) FROM copy_t WHERE a = 100", 0)
  T.eq(T.raises(function() db:copy_out("COPY nosuch TO STDOUT") end).sqlstate, "42P01")
  T.eq(db:value "SELECT 1", 1, "the connection is usable")
end)

T.case("copy_in and copy_out refuse any other statement before it runs", function()
  T.contains(T.raises(function() db:copy_in("DELETE FROM copy_t", "") end),
             "db:copy_in: expected one COPY … FROM STDIN statement")
  T.eq(db:value "SELECT count(*) FROM copy_t", 3, "the DELETE did not run")
  T.contains(T.raises(function() db:copy_in("COPY copy_t TO STDOUT", "") end), "expected one COPY … FROM STDIN")
  T.contains(T.raises(function() db:copy_in("COPY copy_t FROM '/etc/passwd'", "") end),
             "expected one COPY … FROM STDIN")
  T.contains(T.raises(function() db:copy_in("COPY copy_t FROM STDIN; DELETE FROM copy_t", "") end),
             "expected one COPY … FROM STDIN")
  T.contains(T.raises(function() db:copy_out("COPY copy_t FROM STDIN") end),
             "db:copy_out: expected one COPY … TO STDOUT statement")
  T.eq(db:value "SELECT count(*) FROM copy_t", 3)
end)

T.case("COPY through query, one, value or exec fails in one line; the transaction stays usable", function()
  db:exec "BEGIN"
  for _, call in ipairs {
    { "exec", "COPY copy_t FROM STDIN", "db:exec: COPY … FROM STDIN needs its data: use db:copy_in(sql, data)" },
    { "query", "COPY copy_t FROM STDIN", "db:query: COPY … FROM STDIN needs its data" },
    { "one", "COPY copy_t TO STDOUT", "db:one: COPY … TO STDOUT returns its data: use db:copy_out(sql)" },
    { "value", "COPY copy_t TO STDOUT", "db:value: COPY … TO STDOUT returns its data" },
    { "exec", "COPY copy_t TO STDOUT", "db:exec: COPY … TO STDOUT returns its data" },
  } do
    local method, sql, msg = table.unpack(call)
    T.contains(T.raises(function() db[method](db, sql) end), msg)
    T.eq(db:transaction_status(), "open", method .. " " .. sql .. " left the transaction usable")
  end
  T.eq(db:value "SELECT count(*) FROM copy_t", 3)
  db:exec "ROLLBACK"
end)

db:exec "DROP TABLE copy_t"
T.done()
