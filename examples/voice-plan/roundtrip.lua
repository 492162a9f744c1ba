-- Where `weir test --roundtrip` starts (weir.lua's fixture): the application's database before
-- seed 000 (fixture.lua: projects, milestones with deadline, tasks), and the dual_write flag
-- defined off, as the application leaves it once it stopped writing both shapes. The flags
-- phase keeps an existing flag's state, so the roundtrip reaches cleanup, which requires
-- dual_write off. By hand: weir run --db URL roundtrip.lua
local here = (arg and arg[0] or ""):match("^(.*)/") or "."
dofile(here .. "/fixture.lua")
flags.define(db, "dual_write", { description = "the application writes both shapes", default = false })
print("dual_write defined off")
