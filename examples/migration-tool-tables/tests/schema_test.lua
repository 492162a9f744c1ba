-- The schema seed 004 adds: up and down from the fixture, the foreign keys to organizations
-- only where that table exists, the pgcrypto guard's decision, and the CHECKs of the tables
-- the seed describes in prose (analytics, enterprise, verification).
local H = dofile("tests/helpers.lua")

local function model(db) return schema.inspect(db, { exclude_schemas = { "weir" } }) end

local function changes(a, b)
  local out = {}
  for _, c in ipairs(schema.diff(a, b)) do out[#out + 1] = c.kind .. " " .. c.object end
  return out
end

local ORG_FKS = { "organization_migration_config_organization_id_fkey", "organization_migration_customization_organization_id_fkey",
  "bulk_migration_jobs_organization_id_fkey" }

local function org_fks(db)
  return db:value("SELECT count(*) FROM pg_constraint WHERE conname = ANY ($1::text[]) AND contype = 'f'", db.array(ORG_FKS))
end

describe("up and down", function()
  it("up applies every phase; down to the start gives back the fixture's schema exactly; up again rebuilds it", function(db)
    project.fixture()
    local before = model(db)
    local out = project.up()
    expect(out):to_contain("008_rollout_flags:canary_health done")
    expect(db:value "SELECT count(*) FROM weir.phases WHERE state = 'done'"):to_be(20)
    local after = model(db)
    project.down "001_migration_retries_links"
    expect(changes(before, model(db))):to_equal({})
    project.up()
    expect(changes(after, model(db))):to_equal({})
  end)
end)

describe("foreign keys to organizations", function()
  it("exist when organizations does, and cascade its deletes", function(db)
    expect(project.fixture()):to_contain("organizations 3")
    expect(project.up()):to_contain("organizations exists: organization_id references organizations(id) in 3 tables")
    expect(org_fks(db)):to_be(3)
    local org = H.org(db, 1)
    db:exec("INSERT INTO organization_migration_config (organization_id, soft_budget_seconds) VALUES ($1, 600)", org)
    db:exec("INSERT INTO bulk_migration_jobs (organization_id, created_by, source_urls) VALUES ($1, $2, '{https://a.example.com}')",
      org, H.user(db, 1))
    expect(function() db:exec("INSERT INTO organization_migration_config (organization_id) VALUES (gen_random_uuid())") end)
      :to_raise("23503")
    db:exec("DELETE FROM organizations WHERE id = $1", org)
    expect(db:value "SELECT count(*) FROM organization_migration_config"):to_be(0)
    expect(db:value "SELECT count(*) FROM bulk_migration_jobs"):to_be(0)
  end)

  it("are left out where organizations does not exist (a development database), and up still passes", function(db)
    -- the database as `weir run fixture.lua without-organizations` builds it
    project.fixture()
    db:exec "DROP TABLE organizations"
    expect(project.up()):to_contain("no table organizations: organization_id has no foreign key")
    expect(org_fks(db)):to_be(0)
    -- any organization id is taken, as the seed's dev environments need
    expect(db:exec("INSERT INTO organization_migration_config (organization_id) VALUES (gen_random_uuid())")):to_be(1)
    -- and the rest of the migration is the same: down and up again work
    project.down "006_analytics_enterprise_verification"
    project.up()
  end)
end)

describe("the pgcrypto guard", function()
  local action = H.exports("001_migration_retries_links").pgcrypto_action

  it("decides from the server version, the extension and its availability", function()
    expect(action { server_version_num = 150018, installed = false, available = false })
      :to_be("none")
    expect(select(2, action { server_version_num = 130000, installed = false, available = true }))
      :to_be("gen_random_uuid() is built in since PostgreSQL 13 (this server: 130000)")
    expect(action { server_version_num = 120015, installed = true, available = true }):to_be("none")
    expect(action { server_version_num = 120015, installed = false, available = true }):to_be("create")
    expect(action { server_version_num = 110022, installed = false, available = true }):to_be("create")
    local verdict, why = action { server_version_num = 120015, installed = false, available = false }
    expect(verdict):to_be("refuse")
    expect(why):to_contain("PostgreSQL 120015 needs pgcrypto for gen_random_uuid(), and this server does not have it")
  end)

  it("changes nothing on this server, which has gen_random_uuid() built in", function(db)
    project.fixture()
    local out = project.up "001_migration_retries_links:pgcrypto"
    expect(db:value "SELECT current_setting('server_version_num')::int >= 130000"):to_be(true)
    expect(out):to_contain("pgcrypto: gen_random_uuid() is built in since PostgreSQL 13")
    expect(db:value "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"):to_be(0)
    project.down "001_migration_retries_links"
  end)

  it("leaves an installed pgcrypto alone, up and down", function(db)
    db:exec "CREATE EXTENSION pgcrypto"
    project.fixture()
    project.up "001_migration_retries_links:pgcrypto"
    project.down "001_migration_retries_links"
    expect(db:value "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"):to_be(1)
  end)
end)

describe("CHECKs of the analytics, enterprise and verification tables", function()
  it("refuse what the seed's model does not allow", function(db)
    project.fixture()
    project.up()
    local mp, user, org = H.mp(db, 1), H.user(db, 2), H.org(db, 1)
    H.rolled_back(db, function()
      H.rejects(db, "23514", [[INSERT INTO migration_analytics_events (migration_project_id, correlation_id, event_type)
                               VALUES ($1, $1, 'SOMETHING')]], mp)
      H.rejects(db, "23502", [[INSERT INTO migration_analytics_events (migration_project_id, event_type)
                               VALUES ($1, 'MIGRATION_STARTED')]], mp)  -- every event carries its correlation id
      H.rejects(db, "23514", [[INSERT INTO migration_analytics_events (migration_project_id, correlation_id, event_type, duration_ms)
                               VALUES ($1, $1, 'PHASE_COMPLETED', -1)]], mp)
      H.rejects(db, "23514", "INSERT INTO migration_user_feedback (migration_project_id, user_id, rating) VALUES ($1, $2, 0)", mp, user)
      H.rejects(db, "23514", "INSERT INTO organization_migration_config (organization_id, soft_budget_seconds) VALUES ($1, 4000)", org)
      H.rejects(db, "23514", "INSERT INTO organization_migration_config (organization_id, max_concurrent_migrations) VALUES ($1, 0)", org)
      H.rejects(db, "23514", "INSERT INTO organization_migration_config (organization_id, support_channel) VALUES ($1, 'pager')", org)
      H.rejects(db, "23514", "INSERT INTO organization_migration_customization (organization_id, integration_hooks) VALUES ($1, '{}')", org)
      H.rejects(db, "23514", "INSERT INTO bulk_migration_jobs (organization_id, created_by, source_urls) VALUES ($1, $2, '{}')", org, user)
      H.rejects(db, "23514", [[INSERT INTO bulk_migration_jobs (organization_id, created_by, source_urls, completed_count)
                               VALUES ($1, $2, '{https://a.example.com}', 2)]], org, user)
      H.rejects(db, "23514", [[INSERT INTO bulk_migration_jobs (organization_id, created_by, source_urls, batch_size)
                               VALUES ($1, $2, '{https://a.example.com}', 0)]], org, user)
      H.rejects(db, "23514", "INSERT INTO migration_verification_attempts (migration_project_id, method) VALUES ($1, 'carrier_pigeon')", mp)
      H.rejects(db, "23514", "INSERT INTO migration_verification_attempts (migration_project_id, method, status) VALUES ($1, 'file', 'failed')", mp)
      H.rejects(db, "23514", "INSERT INTO migration_domain_providers (domain, provider) VALUES ('Site.Example.com', 'cloudflare')")
      H.rejects(db, "23514", "INSERT INTO migration_domain_providers (domain, provider) VALUES ('site.example.com', 'dnsimple?')")
      -- and take what it does
      expect(db:exec([[INSERT INTO migration_analytics_events (migration_project_id, correlation_id, event_type, phase, duration_ms)
                       VALUES ($1, $1, 'PHASE_COMPLETED', 'PLAN', 1200)]], mp)):to_be(1)
      expect(db:exec([[INSERT INTO migration_verification_attempts (migration_project_id, method, status, error)
                       VALUES ($1, 'file', 'failed', 'file not found')]], mp)):to_be(1)
      expect(db:exec("INSERT INTO migration_domain_providers (domain, provider, nameservers) VALUES ('site1.example.com', 'cloudflare', '{a.ns.cloudflare.com}')"))
        :to_be(1)
    end)
  end)
end)
