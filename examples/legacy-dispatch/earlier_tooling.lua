-- What the team's earlier tooling left in the NEW database (seed 003's real situation: records
-- already moved, with its own migration_mappings and migration_control tables), to try the
-- migration's `adopt` path on:
--
--   weir up --to 001_legacy_dispatch:orders          # fills the new database up to orders …
--   weir run --db NEW_URL earlier_tooling.lua [N]    # … and turns it into the earlier tooling's
--
-- It re-keys every row with a random UUID (gen_random_uuid(), as that tooling drew them) and
-- writes the legacy id → UUID pairs to migration_mappings (entity_type, legacy_id, new_id,
-- migrated_at); keeps the orders up to legacy id N (default 1800: the tooling stopped half way
-- through orders, before comments); writes migration_control (per entity: status and
-- last_synced_at, the newest legacy change its pass saw); adds the columns it carried over
-- from the legacy schema and nothing uses (profiles.fax, pager, legacy_role; products.legacy_sku,
-- legacy_category, old_price), with values; and removes what weir kept: its state schema, and
-- the row-level security the tooling never had. Refuses a database that is not in that state.

local cutoff = math.tointeger(tonumber(arg[1] or "1800"))
if not cutoff or cutoff < 0 then error("earlier_tooling.lua: N must be a whole number, got " .. tostring(arg[1]), 0) end

local ENTITIES = {  -- table, namespace, foreign keys (column → namespace)
  { "offices", "office", {} },
  { "products", "product", {} },
  { "profiles", "profile", { office_id = "office" } },
  { "doctors", "doctor", { profile_id = "profile", office_id = "office" } },
  { "patients", "patient", { office_id = "office", primary_doctor_id = "doctor" } },
  { "orders", "order", { patient_id = "patient", doctor_id = "doctor", office_id = "office" } },
}

if not db:value "SELECT to_regclass('weir.id_map') IS NOT NULL AND to_regclass('public.orders') IS NOT NULL" then
  error("earlier_tooling.lua: run it on a new database that weir up --to 001_legacy_dispatch:orders filled", 0)
end
if db:value "SELECT to_regclass('public.migration_mappings') IS NOT NULL" then
  error("earlier_tooling.lua: migration_mappings exists already", 0)
end
if db:value "SELECT EXISTS (SELECT 1 FROM public.comments)" then
  error("earlier_tooling.lua: comments has rows; fill the database only up to orders (weir up --to 001_legacy_dispatch:orders)", 0)
end

db:tx(function()
  -- the tooling stopped after order N
  db:exec([[DELETE FROM public.orders o USING weir.id_map m
             WHERE m.namespace = 'order' AND m.new_id = o.id AND m.legacy_id::bigint > $1]], cutoff)

  db:exec [[
    CREATE TABLE public.migration_mappings (
      entity_type text NOT NULL,
      legacy_id   bigint NOT NULL,
      new_id      uuid NOT NULL UNIQUE,
      migrated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (entity_type, legacy_id)
    );
    CREATE TABLE public.migration_control (
      entity_type      text PRIMARY KEY,
      status           text NOT NULL,
      last_synced_at   timestamp,
      records_migrated bigint NOT NULL,
      completed_at     timestamptz
    );
  ]]
  for _, e in ipairs(ENTITIES) do
    db:exec(([[INSERT INTO public.migration_mappings (entity_type, legacy_id, new_id)
               SELECT $1, m.legacy_id::bigint, gen_random_uuid() FROM weir.id_map m JOIN public.%s t ON t.id = m.new_id
                WHERE m.namespace = $1]]):format(e[1]), e[2])
  end

  -- every key and foreign key to the tooling's UUID (foreign key checks off while they move)
  db:exec [[
    CREATE TEMP TABLE rekey (old uuid PRIMARY KEY, new uuid NOT NULL) ON COMMIT DROP;
    INSERT INTO rekey SELECT m.new_id, mm.new_id FROM weir.id_map m
      JOIN public.migration_mappings mm ON mm.entity_type = m.namespace AND mm.legacy_id = m.legacy_id::bigint;
    ANALYZE rekey;
    SET LOCAL session_replication_role = replica;
  ]]
  for _, e in ipairs(ENTITIES) do
    db:exec(("UPDATE public.%s t SET id = r.new FROM rekey r WHERE r.old = t.id"):format(e[1]))
    for col in pairs(e[3]) do
      db:exec(("UPDATE public.%s t SET %s = r.new FROM rekey r WHERE r.old = t.%s"):format(e[1], col, col))
    end
  end
  db:exec "SET LOCAL session_replication_role = origin"

  for _, e in ipairs(ENTITIES) do
    db:exec(([[INSERT INTO public.migration_control (entity_type, status, last_synced_at, records_migrated, completed_at)
               SELECT $1, $2, max(updated_at) AT TIME ZONE 'America/New_York', count(*), CASE WHEN $2 = 'completed' THEN now() END
                 FROM public.%s]]):format(e[1]), e[2], e[1] == "orders" and "stopped" or "completed")
  end

  -- the legacy columns it carried over, which nothing reads
  db:exec [[
    ALTER TABLE public.profiles ADD COLUMN fax text, ADD COLUMN pager text, ADD COLUMN legacy_role text;
    UPDATE public.profiles SET fax = CASE WHEN email LIKE '%3@%' THEN phone END,
                               pager = CASE WHEN email LIKE '%7@%' THEN '555-' || length(full_name) END,
                               legacy_role = upper(role);
    ALTER TABLE public.products ADD COLUMN legacy_sku text, ADD COLUMN legacy_category text,
                                ADD COLUMN old_price numeric(10,2) NOT NULL DEFAULT 0;
    UPDATE public.products SET legacy_sku = lower(sku), old_price = round(price * 0.9, 2),
                               legacy_category = CASE WHEN active THEN 'A' END;
  ]]

  -- what weir kept, and the row-level security the tooling never had
  for _, t in ipairs { "offices", "products", "profiles", "doctors", "patients", "orders", "comments" } do
    for _, cmd in ipairs { "select", "insert", "update", "delete" } do
      db:exec(("DROP POLICY IF EXISTS dispatch_%s ON public.%s"):format(cmd, t))
    end
    db:exec(("ALTER TABLE public.%s DISABLE ROW LEVEL SECURITY"):format(t))
    if db:value "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated')" then
      db:exec(("REVOKE ALL ON public.%s FROM authenticated"):format(t))
    end
  end
  db:exec "DROP FUNCTION IF EXISTS public.dispatch_office_id(), public.dispatch_role(), public.dispatch_is_admin()"
  if db:value [[SELECT obj_description(to_regprocedure('auth.uid()'), 'pg_proc') LIKE 'stand-in for Supabase%']] then
    db:exec "REVOKE USAGE ON SCHEMA auth FROM authenticated, anon"
    db:exec "DROP FUNCTION auth.uid()"
    if not db:value "SELECT EXISTS (SELECT 1 FROM pg_depend WHERE refobjid = 'auth'::regnamespace)" then
      db:exec "DROP SCHEMA auth"
    end
  end
  db:exec "DROP SCHEMA weir CASCADE"
end)

local counts = {}
for _, e in ipairs(ENTITIES) do
  counts[#counts + 1] = ("%s %d"):format(e[1], db:value("SELECT count(*) FROM public." .. e[1]))
end
print(("earlier tooling's database: %s rows, in migration_mappings with random UUIDs (orders up to %d)")
  :format(table.concat(counts, ", "), cutoff))
