-- flags: define, switch, roll out by percentage, override per subject, audit; the SQL function
-- the application uses gives the same answers.
local T = require "testing"

local function on(name, subject) return flags.enabled(db, name, { subject = subject }) end

T.case("define is idempotent and starts from the default", function()
  T.eq(flags.define(db, "shadow_mode", { description = "read the new tables in the shadow" }), true)
  T.eq(flags.define(db, "shadow_mode", { default = true }), false, "an existing flag keeps its state")
  T.eq(on("shadow_mode"), false)
  T.eq(flags.define(db, "plan_commit", { default = true }), true)
  T.eq(on("plan_commit"), true)
  T.contains(T.raises(on, "never_defined"),
    "flags.enabled: no flag named 'never_defined' (define it with flags.define, or pass default = true or false)",
    "an undefined flag is neither on nor off")
  T.eq(flags.enabled(db, "never_defined", { default = false }), false, "unless the caller says what to answer")
  T.eq(flags.enabled(db, "never_defined", { default = true, subject = "org-1" }), true)
  T.eq(flags.enabled(db, "plan_commit", { default = false }), true, "the default is only for an undefined flag")
  T.contains(T.raises(flags.enabled, db, "x", { default = "no" }), "flags.enabled: default must be a boolean, got string")
  T.eq(db:value("SELECT weir.flag_enabled('never_defined')"), false, "the application's SQL function answers false")
  local list = flags.list(db)
  T.eq(#list, 2)
  T.eq(list[2].description, "read the new tables in the shadow")
end)

T.case("enable and disable, each recorded with who, when, old and new", function()
  flags.enable(db, "shadow_mode")
  T.eq(on("shadow_mode"), true)
  flags.enable(db, "shadow_mode")  -- no change, no history entry
  flags.disable(db, "shadow_mode")
  T.eq(on("shadow_mode"), false)
  local h = flags.history(db, "shadow_mode")
  T.eq(#h, 3)
  T.eq({ h[1].change, h[2].change, h[3].change }, { "define", "enable", "disable" })
  T.eq(h[2].old.enabled, false)
  T.eq(h[2].new.enabled, true)
  T.eq(h[2].actor, db:value "SELECT current_user")
  T.ok(h[3].at >= h[2].at, "in order")
end)

T.case("a percentage rollout is stable: subjects that are in stay in as it grows", function()
  flags.define(db, "dual_write")
  flags.enable(db, "dual_write")
  local function cohort(p)
    flags.set_percent(db, "dual_write", p)
    local set, n = {}, 0
    for i = 1, 400 do
      if on("dual_write", "org-" .. i) then
        set[i] = true
        n = n + 1
      end
    end
    return set, n
  end
  local s10, n10 = cohort(10)
  local s50, n50 = cohort(50)
  local _, n100 = cohort(100)
  T.ok(n10 > 15 and n10 < 70, "about 10%: " .. n10)
  T.ok(n50 > 150 and n50 < 250, "about 50%: " .. n50)
  T.eq(n100, 400)
  for i in pairs(s10) do T.ok(s50[i], "org-" .. i .. " was in at 10% and stays in at 50%") end
  flags.set_percent(db, "dual_write", 50)
  T.eq(on("dual_write"), false, "a partial rollout without a subject is off")
  T.contains(T.raises(function() flags.set_percent(db, "dual_write", 101) end), "flags.set_percent: percent must be an integer from 0 to 100")
end)

T.case("overrides win over the switch and the percentage, and can be removed", function()
  flags.define(db, "voice_capture")
  flags.override(db, "voice_capture", "org-7", true)
  T.eq(on("voice_capture", "org-7"), true)
  T.eq(on("voice_capture", "org-8"), false)
  flags.enable(db, "voice_capture")
  flags.override(db, "voice_capture", "org-8", false)
  T.eq(on("voice_capture", "org-8"), false)
  T.eq(on("voice_capture", "org-9"), true)
  flags.override(db, "voice_capture", "org-8", nil)
  T.eq(on("voice_capture", "org-8"), true)
  local h = flags.history(db, "voice_capture")
  T.eq(h[#h].change, "override")
  T.eq(h[#h].new.enabled, json.null)
end)

T.case("the application's SQL function gives the same answers (false for an undefined flag)", function()
  local function lua_answer(f, subject)
    local default = nil
    if f == "never_defined" then default = false end
    return flags.enabled(db, f, { subject = subject, default = default })
  end
  for _, f in ipairs { "shadow_mode", "plan_commit", "dual_write", "voice_capture", "never_defined" } do
    for _, subject in ipairs { "org-1", "org-7", "org-8", "org-123" } do
      T.eq(db:value("SELECT weir.flag_enabled($1, $2)", f, subject), lua_answer(f, subject), f .. " / " .. subject)
    end
    T.eq(db:value("SELECT weir.flag_enabled($1)", f), lua_answer(f), f)
  end
end)

T.case("changing an undefined flag is one clear error", function()
  T.contains(T.raises(function() flags.enable(db, "nope") end), "flags.enable: no flag named 'nope' (define it with flags.define)")
  T.contains(T.raises(function() flags.override(db, "nope", "x", true) end), "flags.override: no flag named 'nope' (define it with flags.define)")
  T.contains(T.raises(function() flags.enabled(db, "") end), "flags.enabled: expected a flag name, got an empty string")
end)

T.done()
