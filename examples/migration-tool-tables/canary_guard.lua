-- The seed's canary auto-rollback: "Production (Canary): 10% users, auto-rollback if
-- PROJECT_CREATED but DEPLOYMENT_FAILED >5% in 1h". Run it every few minutes (cron, a CI
-- schedule) against the application's database:
--
--   weir run --db URL canary_guard.lua [PERCENT]       -- default 5
--
-- It reads migration_project_creation_health() (008_rollout_flags) over the last hour and,
-- when more than PERCENT % of the migrations whose project was created then had their
-- deployment fail, turns the flag migration_project_creation off for everyone: the
-- application's weir.flag_enabled('migration_project_creation', user) answers false from the
-- next query on, and weir.flag_history records who turned it off and when. It never turns the
-- flag on: that is a person's decision (flags.enable, or weir repl). Exit 0 whether it rolled
-- back or not; what it did is on stdout.

local threshold = tonumber(arg[1] or "5")
if not threshold or threshold < 0 or threshold > 100 then
  error(("canary_guard: PERCENT must be a number from 0 to 100, got %q"):format(tostring(arg[1])), 0)
end
local FLAG = "migration_project_creation"

local h = db:one [[SELECT created, deploy_failed, coalesce(failed_percent, 0)::float8 AS failed_percent
                     FROM public.migration_project_creation_health(interval '1 hour')]]
local summary = ("%d projects created in the last hour, %d deployments failed"):format(h.created, h.deploy_failed)
local switch
for _, f in ipairs(flags.list(db)) do
  if f.name == FLAG then switch = f end
end
if not switch then error("canary_guard: no flag " .. FLAG .. " (run weir up: 008_rollout_flags defines it)", 0) end
if not switch.enabled then
  print(("canary: %s is off; %s"):format(FLAG, summary))
elseif h.created > 0 and h.failed_percent > threshold then
  flags.disable(db, FLAG)
  print(("canary: ROLLED BACK: %s (%.2f %% > %s %%): %s is now off"):format(summary, h.failed_percent, threshold, FLAG))
else
  print(("canary: healthy: %s (%.2f %%, threshold %s %%; %s on for %d %% of users)"):format(summary,
    h.failed_percent, threshold, FLAG, switch.percent))
end
