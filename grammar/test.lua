---@meta weir-test
-- LuaLS definitions of what `weir test` gives *_test.lua files (see docs/testing.md). These
-- exist only in test files, not in migrations or `weir run` scripts.

---A group of tests; groups nest, and their names prefix the tests'.
---@param name string
---@param fn fun()
function describe(name, fn) end

---One test. It runs with `db` connected to a fresh database cloned from an empty template,
---dropped afterwards.
---@param name string
---@param fn fun(db: weir.Connection)
function it(name, fn) end

---@class weir.Expectation
local Expectation = {}
---The value is `expected` (==).
function Expectation:to_be(expected) end
---The value equals `expected`, comparing tables deeply.
function Expectation:to_equal(expected) end
---The value is neither false, nil nor db.NULL.
function Expectation:to_be_truthy() end
---The value is nil or db.NULL.
function Expectation:to_be_nil() end
---A string contains `part` (plainly), or a list contains an element equal to it.
function Expectation:to_contain(part) end
---The value is a function that raises an error containing `pattern` (an SQL error: its
---SQLSTATE and message).
---@param pattern? string
function Expectation:to_raise(pattern) end

---An expectation on `actual`; a failing one fails the test with the message and its FILE:LINE.
---@param actual any
---@return weir.Expectation
function expect(actual) end

---The project's fixture and migrations on the test's own database (inside `it` only), run in
---this process as `weir run FIXTURE`, `weir up` and `weir down` would run them there: the
---migrations directory and settings of weir.lua (or --dir), its `fixture`. Each returns what
---the scripts printed and what weir said, as one text; when weir fails (a phase, a verify, an
---unmet requirement) it raises with that text at the caller's line.
---@class weir.TestProject
project = {}

---Runs weir.lua's fixture (or the script at `path`) with `db` the test's database.
---@param path? string
---@return string output
function project.fixture(path) end

---`weir up [--to TO]` on the test's database.
---@param to? string MIGRATION[:PHASE]
---@return string output
function project.up(to) end

---`weir down TARGET` on the test's database.
---@param target string MIGRATION[:PHASE]
---@return string output
function project.down(target) end
