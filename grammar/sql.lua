---@meta sql
-- LuaLS definitions of the `sql` module: `local sql = require "sql"` (checked against the
-- binary by tests/lua/api_surface_test.lua).

---@class sql
local sql = {}

---One statement of a parsed SQL text.
---@class sql.Statement
---@field text string the statement as written, without its trailing semicolon
---@field kind string PostgreSQL's parse node: "CreateStmt", "IndexStmt", "AlterTableStmt", …
---@field tree table the node's fields as libpg_query gives them (e.g. tree.concurrent of an IndexStmt)

---Splits `text` into statements with PostgreSQL's own parser (libpg_query, PostgreSQL 15
---grammar). Raises "sql.parse: MESSAGE at character N" when PostgreSQL cannot parse it.
---@param text string
---@return sql.Statement[]
function sql.parse(text) end

---Replaces the secrets in SQL with '***', for showing or recording it: found with PostgreSQL's
---own scanner, the string after PASSWORD (CREATE/ALTER ROLE|USER … [ENCRYPTED] PASSWORD '…')
---and after an option named password or sslpassword (CREATE/ALTER USER MAPPING, ALTER SERVER
---… OPTIONS), comments in between skipped; the string arguments of a format() whose format
---string mentions PASSWORD and a string concatenated to '… PASSWORD '; also inside
---DO/function bodies and SQL in strings; and the password of a
---connection URL or conninfo written in a string. Text the scanner cannot read is cut after
---its first PASSWORD '. Each further argument (a message about that SQL, or nil) is returned
---with the replaced literals removed from it. Never raises for bad SQL.
---@param text string
---@param ... string|nil
---@return string redacted
---@return (string|nil) ...
function sql.redact(text, ...) end

---The first statement of `text` that a transactional phase may not run — one that controls the
---transaction other than through savepoints: BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK,
---ABORT (AND CHAIN or not), PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED; not SAVEPOINT,
---RELEASE or ROLLBACK TO — as written, and the one-line refusal `weir up` and `weir plan` give
---for it; nil when there is none. Read with PostgreSQL's parser; text it cannot parse is read
---statement by statement with its scanner. Never raises for bad SQL.
---@param text string
---@return string|nil statement
---@return string|nil message
function sql.transaction_control(text) end

---One finding of sql.lint.
---@class sql.LintViolation
---@field line integer 1-based line in the text where the statement starts (of the comment for a bad ignore; 0 for a bad ignore from `ignore`)
---@field rule string the rule's name (docs/lint.md), or "syntax-error" for text PostgreSQL cannot parse
---@field message string one line: what is wrong and what to do instead
---@field statement string the statement as written, without the comments before it or its ';'
---@field chunk? integer with a list of texts: the index of the text it was found in

---How one text runs, and suppressions from outside it.
---@class sql.LintOptions
---@field transaction? boolean the text runs inside a transaction opened before it (a transactional phase)
---@field one_query? boolean the text is sent as one query, so several statements form an implicit transaction
---@field ignore? string[] `-- weir:ignore RULE[, RULE...]` comments that apply to every statement of the text

---One of several texts linted in the order they run.
---@class sql.LintText: sql.LintOptions
---@field sql string

---Lints SQL for dangerous or regrettable DDL (the rules of `weir lint`, docs/lint.md), with
---PostgreSQL's parser. Objects created by an earlier statement — or by an earlier text of a
---list — are new and safe to change; anything else counts as existing. `-- weir:ignore RULE`
---comments in the text suppress a rule for one statement. Never raises for bad SQL: a text
---PostgreSQL cannot parse gives one entry with rule "syntax-error".
---@param source string|sql.LintText[] one text, or texts that run one after another
---@param opts? sql.LintOptions for a single text
---@return sql.LintViolation[] ordered by text, then line
function sql.lint(source, opts) end

return sql
