-- Where `weir test --roundtrip` starts (weir.lua's fixture): the application's database before
-- seed 000 (fixture.lua: projects, milestones with deadline, tasks), and the rollout's flags as
-- they stand once it is over: shadow_mode off, dual_write on for a while and then off. The
-- flags phase keeps an existing flag's state, and complete requires that history, so the
-- roundtrip reaches complete. By hand: weir run --db URL roundtrip.lua
local here = (arg and arg[0] or ""):match("^(.*)/") or "."
dofile(here .. "/fixture.lua")
flags.define(db, "shadow_mode", { description = "the application reads the new shape in the shadow", default = false })
flags.define(db, "dual_write", { description = "the application writes both shapes", default = true })
flags.disable(db, "dual_write")
print("rollout over: shadow_mode off, dual_write on, then off")
