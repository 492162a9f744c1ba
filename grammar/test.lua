---@meta
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

---@class weir.Migrate
migrate = {}

---Runs the project's migrations (weir.lua's `migrations`, or `dir`) up to `to` ("ID" or
---"ID:PHASE"; all when absent) on the test's database, as `weir up` would: weir's state, the
---migration lock, verify, named connections. Raises at the test's line when a phase fails.
---@param opts? {to?: string, dir?: string}
function migrate.up(opts) end

---Rolls the test's database back down to `to` ("ID" or "ID:PHASE", included), as `weir down`.
---@param opts {to: string, dir?: string}
function migrate.down(opts) end
