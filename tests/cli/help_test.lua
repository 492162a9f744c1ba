-- Help, manual pages and completions say exactly what each command accepts. The options of a
-- command are read from the table its parser uses: the bash completion script, which weir
-- writes from that table (`options='…'` per command). Each one must be accepted by the parser,
-- listed once in --help, and in the manual page; an option outside the table is refused.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local _ -- the values a case does not look at

local weir_bin = assert(os.getenv "WEIR")
local tmp = shell.tmpdir()

local function run(args) return sh("cd " .. q(tmp) .. " && DATABASE_URL= " .. q(weir_bin) .. " " .. args) end

local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]*") do out[#out + 1] = line end
  return out
end

local _, names_text = run("completion commands")
local commands = {}
for name in names_text:gmatch("[^\n]+") do commands[#commands + 1] = name end

-- command -> { "--db", "-v", "--verbose", … } as the parser's table has them (aliases too)
local _, bash_script = run("completion bash")
local table_options = {}
for name, list in bash_script:gmatch("\n    ([%w]+)%)\n      options='([^']*)'") do
  local opts = {}
  for o in list:gmatch("%S+") do opts[#opts + 1] = o end
  table_options[name] = opts
end

-- A value the parser takes for each option's argument, by the argument's name in --help.
local installed = select(2, sh("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1")):gsub("\n", "")
local samples = {
  ["ID[:PHASE]"] = "001_x", DIR = tmp, FILE = tmp .. "/f", ["FILE|-"] = "-", ["FILE.sql"] = "b.sql",
  N = "1", NAME = "s", SCHEMA = "public", ["URL|NAME"] = "postgresql://nowhere/x",
  ["NAME=URL"] = "other=postgresql://nowhere/x", MS = "500", SECONDS = "60", CODE = "return",
  ["auto|tty|plain|off"] = "plain", ["text|json|gcc|github|sarif"] = "json",
}
local by_option = { ["--pg-version"] = installed:match("/(%d+)/bin$"), ["--pg-bindir"] = installed }

-- Every option of a command's --help: its first line, "  -v, --verbose" or "  --db URL|NAME".
local function help_entries(text)
  local entries = {}
  for _, line in ipairs(lines(text)) do
    local names, arg = line:match("^  (%-[%w-]+, %-%-[%w-]+) ?(%S*)")
    if not names then names, arg = line:match("^  (%-%-?[%w-]+) ?(%S*)") end
    if names then
      for n in names:gmatch("%-%-?[%w-]+") do
        entries[n] = entries[n] or { count = 0 }
        entries[n].count = entries[n].count + 1
        entries[n].arg = arg ~= "" and not arg:match("^%s") and arg or nil
      end
    end
  end
  return entries
end

-- A subcommand to put first where a command has them.
local lead = { pg = { ["--keep"] = "stop", default = "start" } }

T.case("there are commands, and every one has its options in the table", function()
  T.ok(#commands >= 15, "weir completion commands lists the commands: " .. names_text)
  for _, name in ipairs(commands) do
    T.ok(table_options[name], "the bash completion has a table for " .. name)
    T.ok(#table_options[name] >= 2, name .. " has -h and --help at least")
  end
end)

T.case("weir help CMD is weir CMD --help, for every command", function()
  for _, name in ipairs(commands) do
    local rc1, help1, err1 = run("help " .. name)
    local rc2, help2, err2 = run(name .. " --help")
    T.eq({ rc1, err1, rc2, err2 }, { 0, "", 0, "" }, name)
    T.eq(help1, help2, "weir help " .. name)
    T.ok(help1:match("^Usage: weir " .. name), name .. ": " .. help1:sub(1, 60))
  end
  local rc, out = run("help")
  local rc2, out2 = run("--help")
  T.eq({ rc, rc2 }, { 0, 0 })
  T.eq(out, out2, "weir help is weir --help")
  for _, name in ipairs(commands) do T.contains(out, "\n  " .. name .. " ", "the overview lists " .. name) end
  local rc3, out3, err3 = run("help nosuch")
  T.eq({ rc3, out3 }, { 2, "" })
  T.contains(err3, "help: unknown command 'nosuch'")
end)

T.case("every option the parser accepts is in --help once, in the manual page, and accepted", function()
  for _, name in ipairs(commands) do
    local _, help = run(name .. " --help")
    local entries = help_entries(help)
    local _, man = run("help --man " .. name)
    local man_text = man:gsub("\\%-", "-"):gsub("\\f[BIR]", "")
    for _, opt in ipairs(table_options[name]) do
      local e = entries[opt]
      T.ok(e, name .. " --help lists " .. opt)
      T.eq(e.count, 1, name .. " --help lists " .. opt .. " once")
      local o = opt:gsub("%p", "%%%0")
      T.ok(man_text:find("\n%.TP\n" .. o .. "[ ,\n]") or man_text:find("\n%.TP\n%-%w, " .. o .. "[ \n]"),
        "weir-" .. name .. "(1) lists " .. opt)
      if opt ~= "-h" and opt ~= "--help" then
        local value = e.arg and (by_option[opt] or samples[e.arg])
        T.ok(not e.arg or value, name .. " " .. opt .. ": no sample value for " .. tostring(e.arg))
        local first = lead[name] and (lead[name][opt] or lead[name].default) or nil
        local args = (first and first .. " " or "") .. opt .. (value and " " .. q(value) or "") .. " --help"
        local rc, _, err = run(name .. " " .. args)
        T.eq({ rc, err }, { 0, "" }, "weir " .. name .. " " .. args)
      end
    end
    -- and nothing else: --help lists no option the table lacks
    local known = {}
    for _, opt in ipairs(table_options[name]) do known[opt] = true end
    for opt in pairs(entries) do T.ok(known[opt], name .. " --help lists " .. opt .. ", which the parser refuses") end
    local first = lead[name] and lead[name].default or nil
    local rc, out, err = run(name .. " " .. (first and first .. " " or "") .. "--no-such-option")
    T.eq({ rc, out }, { 2, "" }, name .. " --no-such-option")
    T.contains(err, "unknown option '--no-such-option'", name)
  end
end)

T.case("the usage lines name only options of the table, with the same value names", function()
  for _, name in ipairs(commands) do
    local _, help = run(name .. " --help")
    local entries = help_entries(help)
    local usage = help:match("^(.-)\n\n")
    for opt, arg in usage:gmatch("(%-%-?[%w-]+)([ =]?[%u%[][^%]|%s]*)") do
      T.ok(entries[opt], name .. ": the usage names " .. opt .. ", which --help does not list")
    end
    for opt, arg in usage:gmatch("%[(%-%-[%w-]+) ([^%]]+)%]") do
      if entries[opt] and entries[opt].arg and not arg:find("|", 1, true) then
        T.eq(arg:gsub("%]$", ""), entries[opt].arg:gsub("%]$", ""), name .. " " .. opt .. " in the usage")
      end
    end
  end
end)

T.case("what the issue asked of each command's help", function()
  local function help(name) return select(2, run(name .. " --help")) end
  local new = help_entries(help "new")
  for _, o in ipairs { "--db", "--connect", "--ephemeral", "--lock-wait", "--lock-timeout", "--schema" } do
    T.eq(new[o], nil, "new --help does not list " .. o .. ", which new does not use")
  end
  T.ok(help_entries(help "status")["--json"], "status --help has --json")
  local plan = help_entries(help "plan")
  for _, o in ipairs { "--all-sql", "--json", "--to" } do T.ok(plan[o], "plan --help has " .. o) end
  T.contains(help "up", "--to ID[:PHASE]       stop after migration ID")
  T.contains(help "down", "--steps N             roll back the last N applied phases")
  T.ok(help_entries(help "lint")["--config"], "lint --help has --config")
end)

T.case("a broken weir.lua does not stop what does not need it", function()
  shell.write(tmp .. "/weir.lua", "return { this is not lua")
  shell.write(tmp .. "/ok.sql", "SELECT 1;\n")
  local rc, out, err = run("lint ok.sql")
  T.eq({ rc, err }, { 0, "weir: lint: 1 file, 0 findings\n" }, "weir lint ok.sql")
  rc, out = run("--help")
  T.eq(rc, 0)
  T.contains(out, "Usage: weir COMMAND")
  for _, name in ipairs(commands) do
    rc, out, err = run(name .. " --help")
    T.eq({ rc, err }, { 0, "" }, name .. " --help beside a broken weir.lua")
  end
  -- what needs it says where it is broken
  rc, out, err = run("status --db postgresql://nowhere/x")
  T.eq(rc, 1)
  T.contains(err, "weir.lua:1:")
  os.remove(tmp .. "/weir.lua")
end)

T.case("the completion scripts are valid in their shells and list every command", function()
  local _, zsh = run("completion zsh")
  local _, fish = run("completion fish")
  shell.write(tmp .. "/_weir", zsh)
  shell.write(tmp .. "/weir.fish", fish)
  shell.write(tmp .. "/weir.bash", bash_script)
  T.eq((sh("bash -n " .. q(tmp .. "/weir.bash"))), 0, "bash -n")
  T.eq((sh("zsh -n " .. q(tmp .. "/_weir"))), 0, "zsh -n")
  T.eq((sh("fish -n " .. q(tmp .. "/weir.fish"))), 0, "fish -n")
  for _, name in ipairs(commands) do
    T.contains(zsh, "\n      '" .. name .. ":", "zsh offers " .. name)
    T.contains(fish, "__fish_use_subcommand -a " .. name .. " ", "fish offers " .. name)
    for _, opt in ipairs(table_options[name]) do
      T.contains(zsh, "'*" .. opt, "zsh: " .. name .. " " .. opt)
    end
  end
end)

T.case("the completions complete options, values and the project's migrations in bash, zsh and fish", function()
  local dir = tmp .. "/proj"
  assert(os.execute("mkdir -p " .. q(dir .. "/migrations")))
  shell.write(dir .. "/migrations/001_notes.lua", [[
return migration "001_notes" { phase "expand" { up = function(db) end }, phase "contract" { up = function(db) end } }
]])
  local bin = weir_bin:match("^(.*)/[^/]+$")
  local env = "cd " .. q(dir) .. " && PATH=" .. q(bin) .. ":$PATH "
  local function bash(line)
    local _, out = sh(env .. "bash -c " .. q("source " .. q(tmp .. "/weir.bash") ..
      '; COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; _weir; printf "%s\\n" "${COMPREPLY[@]}"') .. " _ " .. q(line))
    return out
  end
  T.eq(bash "weir up --t", "--to\n--traceback\n")
  T.eq(bash "weir up --to ", "001_notes\n001_notes:expand\n001_notes:contract\n", "ids, then phases in order")
  T.eq(bash "weir down 001_notes:e", "expand\n", "after the ':' bash splits at")
  T.eq(bash "weir baseline ", "001_notes\n")
  T.eq(bash "weir pg st", "start\nstatus\nstop\n")
  T.eq(bash "weir help u", "up\n")
  local function fish(line)
    local _, out = sh(env .. "fish -c " .. q("source " .. q(tmp .. "/weir.fish") .. "; complete -C " .. q(line)))
    return (out:gsub("\t[^\n]*", ""))
  end
  T.eq(fish "weir up --to ", "001_notes\n001_notes:contract\n001_notes:expand\n")
  T.eq(fish "weir baseline ", "001_notes\n")
  T.contains(fish "weir run --pg-", "--pg-bindir\n--pg-version\n")
  -- zsh completes on a terminal only: type into one, a private tmux server's
  local zdot = tmp .. "/zdot"
  assert(os.execute("mkdir -p " .. q(zdot .. "/fpath") .. " && cp " .. q(tmp .. "/_weir") .. " " .. q(zdot .. "/fpath/")))
  shell.write(zdot .. "/.zshrc", "fpath=(" .. zdot .. "/fpath $fpath)\npath=(" .. bin ..
    " $path)\nautoload -U compinit; compinit -u -d " .. zdot .. "/compdump\nPS1='%% '\n")
  local TMUX = "tmux -L weir-help-test -f /dev/null "
  local function tmux(args)
    local rc, out, err = sh(TMUX .. args)
    assert(rc == 0, "tmux " .. args .. ": " .. err)
    return out
  end
  local function wait_for(text)
    local deadline = weir.clock() + 10
    while true do
      local screen = tmux("capture-pane -p -t z")
      if screen:find(text, 1, true) then return end
      if weir.clock() > deadline then error("timed out waiting for " .. text .. "; the screen:\n" .. screen, 2) end
      weir.sleep(0.05)
    end
  end
  tmux("new-session -d -s z -x 150 -y 20 -c " .. q(dir) .. " " .. q("ZDOTDIR=" .. q(zdot) .. " zsh -i"))
  local ok, err = pcall(function()
    wait_for("%")
    tmux("send-keys -t z -l " .. q("weir up --to 001_notes:c"))
    tmux("send-keys -t z Tab")
    wait_for("% weir up --to 001_notes:contract")
    tmux("send-keys -t z C-u")
    tmux("send-keys -t z -l " .. q("weir baseline 0"))
    tmux("send-keys -t z Tab")
    wait_for("% weir baseline 001_notes")
  end)
  sh(TMUX .. "kill-server")
  if not ok then error(err, 0) end
end)

shell.cleanup()
T.done()
