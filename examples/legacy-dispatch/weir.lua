-- weir's project file for the legacy-dispatch example. The migration runs on the NEW database
-- (`--db URL` or $DATABASE_URL) and reads the legacy one through the named connection `legacy`
-- (weir.connection("legacy") in the script), taken from $LEGACY_URL.
return {
  migrations = "migrations",
  db = env "DATABASE_URL",                 -- the new database (or --db URL)
  connections = {
    legacy = env "LEGACY_URL",             -- the legacy dispatch database, only ever read
  },
  lock_timeout = "2s",
  retries = 5,
}
