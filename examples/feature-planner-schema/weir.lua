-- weir's project file for this example: from this directory, `weir up`, `weir plan`,
-- `weir status` and `weir down 001_feature_planner_schema` need no further flags.
return {
  migrations = "migrations",
  fixture = "fixture.lua",  -- the database before the migrations: `weir test --roundtrip` starts from it
  db = env "DATABASE_URL",  -- or --db URL
  lock_timeout = "2s",      -- the move takes ACCESS EXCLUSIVE on 8 tables: never queue behind a long query
  retries = 5,
  vars = {
    grant_role = env("FP_GRANT_ROLE", "authenticated"),  -- the seed's GRANTs go to this role, when it exists
    compat_views = env("FP_COMPAT_VIEWS", "off"),         -- "on": views in public until the flag is turned off
  },
}
