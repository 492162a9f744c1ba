-- `cmake --install` of this build into a temporary prefix: weir, a manual page per command, the
-- completions, grammar/ and the docs land where they belong, and the installed weir works from
-- a directory outside the source tree, finding its grammar/ for `weir init`.
-- (scripts/test-package.sh does the same with the Debian package, installed with dpkg.)
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local _ -- the values a case does not look at

local build = assert(os.getenv "WEIR_BUILD_DIR")
local cmake = assert(os.getenv "CMAKE_COMMAND")
local src = assert(os.getenv "WEIR_SOURCE_DIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")
local tmp = shell.tmpdir()
local prefix = tmp .. "/prefix"
local bin = prefix .. "/bin/weir"

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- the installed weir, from a directory outside the source and build trees, on a PATH without them
local function installed(dir, args, env)
  return sh("cd " .. q(dir) .. " && env PATH=" .. q(prefix .. "/bin") .. ":/usr/bin:/bin " .. (env or "") ..
    " weir " .. args)
end

T.case("cmake --install lays out weir, manual pages, completions, grammar and docs", function()
  local rc, _, err = sh(q(cmake) .. " --install " .. q(build) .. " --prefix " .. q(prefix))
  T.eq(rc, 0, err)
  T.ok(exists(bin), "bin/weir")
  local _, names = sh(q(bin) .. " completion commands")
  local count = 0
  for name in names:gmatch("[^\n]+") do
    count = count + 1
    local page = io.open(prefix .. "/share/man/man1/weir-" .. name .. ".1"):read("a")
    T.ok(page:match('^%.TH "WEIR\\%-' .. name:upper() .. '" "1"'), "weir-" .. name .. ".1")
  end
  T.ok(count >= 15, "a page per command")
  T.ok(exists(prefix .. "/share/man/man1/weir.1"), "weir.1")
  if os.execute("command -v man >/dev/null 2>&1") then
    local rc2, page = sh("MANPATH=" .. q(prefix .. "/share/man") .. " man -P cat weir-up 2>/dev/null")
    T.eq(rc2, 0)
    T.contains(page:gsub("\u{2010}\n%s*", ""):gsub("%-\n%s*", "-"), "--to")
  end
  T.ok(exists(prefix .. "/share/bash-completion/completions/weir"), "bash completion")
  T.ok(exists(prefix .. "/share/zsh/site-functions/_weir"), "zsh completion (site-functions off /usr)")
  T.ok(exists(prefix .. "/share/fish/vendor_completions.d/weir.fish"), "fish completion")
  local _, grammar = sh("cd " .. q(src .. "/grammar") .. " && ls")
  for name in grammar:gmatch("[^\n]+") do
    T.ok(exists(prefix .. "/share/weir/grammar/" .. name), "share/weir/grammar/" .. name)
  end
  for _, doc in ipairs { "install.md", "migrations.md", "getting-started.md", "README.md" } do
    T.ok(exists(prefix .. "/share/doc/weir/" .. doc), "share/doc/weir/" .. doc)
  end
  -- what the completion says is what the installed weir's table says
  local _, bash = sh(q(bin) .. " completion bash")
  T.eq(io.open(prefix .. "/share/bash-completion/completions/weir"):read("a"), bash)
end)

T.case("the installed weir runs outside the source tree", function()
  local work = tmp .. "/work"
  assert(os.execute("mkdir -p " .. q(work)))
  local rc, out, err = installed(work, "--version")
  T.eq({ rc, err }, { 0, "" })
  T.ok(out:match("^weir %d+%.%d+%.%d+\n$"), out)
  rc, out, err = installed(work, "run --ephemeral -e " .. q('print(db:value("SELECT 40 + 2"))'))
  T.eq({ rc, out }, { 0, "42\n" }, err)

  rc, out, err = installed(work, "init project")
  T.eq(rc, 0, err)
  local luarc = io.open(work .. "/project/migrations/.luarc.json"):read("a")
  T.contains(luarc, '"' .. prefix .. '/share/weir/grammar/db.lua"', "init points LuaLS at the installed grammar/")
  local proj = work .. "/project"
  rc, out = installed(proj, "new add_notes")
  T.eq({ rc, out }, { 0, "migrations/001_add_notes.lua\n" })
  local path = proj .. "/migrations/001_add_notes.lua"
  local text = io.open(path):read("a"):gsub("%-%- db:exec %[%[CREATE TABLE %.%.%. %]%]", 'db:exec "CREATE TABLE installed_notes (id int)"')
  shell.write(path, text)
  db:exec "DROP DATABASE IF EXISTS installed_1 WITH (FORCE)"
  db:exec "CREATE DATABASE installed_1"
  local url = base_url:gsub("/postgres%?", "/installed_1?")
  rc, _, err = installed(proj, "up", "DATABASE_URL=" .. q(url))
  T.eq(rc, 0, err)
  local conn <close> = weir.connect(url)
  T.eq(conn:value "SELECT to_regclass('installed_notes') IS NOT NULL", true)
end)

shell.cleanup()
T.done()
