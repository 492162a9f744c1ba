-- Continuing the earlier tooling's migration (adopt) and dropping the columns nothing uses
-- (cleanup), on a new database that tooling left: rows keyed by its random UUIDs, its
-- migration_mappings and migration_control, and the legacy columns it carried over. These
-- phases read no legacy database. (weir test, from the example directory.)
local ID = "001_legacy_dispatch"

-- The tables (made by the schema phase), then what the tooling wrote into them: 3 offices,
-- 2 profiles with a fax, 2 products with their old columns.
local function earlier_tooling()
  project.up(ID .. ":schema")
  db:exec [[
    CREATE TABLE migration_mappings (entity_type text NOT NULL, legacy_id bigint NOT NULL, new_id uuid NOT NULL UNIQUE,
                                     migrated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (entity_type, legacy_id));
    CREATE TABLE migration_control (entity_type text PRIMARY KEY, status text NOT NULL, last_synced_at timestamp,
                                    records_migrated bigint NOT NULL, completed_at timestamptz);
    INSERT INTO migration_mappings (entity_type, legacy_id, new_id)
    SELECT 'office', g, gen_random_uuid() FROM generate_series(1, 3) g
    UNION ALL SELECT 'profile', g, gen_random_uuid() FROM generate_series(1, 2) g
    UNION ALL SELECT 'product', g, gen_random_uuid() FROM generate_series(1, 2) g;
    INSERT INTO offices (id, code, name, created_at, updated_at)
    SELECT new_id, 'OF' || legacy_id, 'Office ' || legacy_id, now(), now() FROM migration_mappings WHERE entity_type = 'office';
    ALTER TABLE profiles ADD COLUMN fax text, ADD COLUMN pager text, ADD COLUMN legacy_role text;
    INSERT INTO profiles (id, office_id, email, full_name, role, created_at, updated_at, fax, legacy_role)
    SELECT m.new_id, (SELECT new_id FROM migration_mappings WHERE entity_type = 'office' AND legacy_id = 1),
           'u' || m.legacy_id || '@x.example', 'U', 'staff', now(), now(), '+1617555010' || m.legacy_id, 'STAFF'
      FROM migration_mappings m WHERE m.entity_type = 'profile';
    ALTER TABLE products ADD COLUMN legacy_sku text, ADD COLUMN legacy_category text,
                         ADD COLUMN old_price numeric(10,2) NOT NULL DEFAULT 0;
    INSERT INTO products (id, sku, name, price, active, created_at, updated_at, legacy_sku, old_price)
    SELECT new_id, 'SKU-' || legacy_id, 'P', 10, true, now(), now(), 'sku-' || legacy_id, 9.5
      FROM migration_mappings WHERE entity_type = 'product';
    INSERT INTO migration_control VALUES ('office', 'completed', '2024-01-01 00:00', 3, now()),
                                         ('profile', 'completed', '2024-01-01 00:00', 2, now());
  ]]
end

local function mapped(entity, legacy)
  return db:value("SELECT new_id::text FROM migration_mappings WHERE entity_type = $1 AND legacy_id = $2", entity, legacy)
end

local function digest(sql) return db:value("SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (" .. sql .. ") t") end

describe("adopt", function()
  it("imports the mapping of the rows each table holds, with the tooling's sync marks", function()
    earlier_tooling()
    project.up(ID .. ":adopt")
    expect(db:value "SELECT count(*) FROM weir.id_map"):to_be(7)
    expect(ids.resolve(db, "office", { 1, 2, 3, 4 })):to_equal({ mapped("office", 1), mapped("office", 2),
      mapped("office", 3), ids.lookup("office", 4) })
    local adopted = db:value("SELECT value FROM weir.checkpoints WHERE key = $1", ID .. "/adopt/adopted")
    expect(adopted.office):to_equal({ rows = 3, imported = 3, mark = "2024-01-01 00:00:00" })
    expect(adopted.product.mark):to_be_nil()
    expect(adopted.order):to_be_nil()
    project.down(ID .. ":adopt")
    expect(db:value "SELECT count(*) FROM weir.id_map"):to_be(0)
    expect(db:value "SELECT count(*) FROM offices"):to_be(3)
  end)

  it("refuses rows it cannot tie to a legacy row", function()
    earlier_tooling()
    db:exec "INSERT INTO offices (id, code, name, created_at, updated_at) VALUES (gen_random_uuid(), 'X', 'X', now(), now())"
    local ok, err = pcall(project.up, ID .. ":adopt")
    expect(ok):to_be(false)
    expect(err):to_contain("weir: 001_legacy_dispatch:adopt: up failed: 1 rows of offices have an id that migration_mappings does not map to a legacy office")
    expect(db:value "SELECT count(*) FROM weir.id_map"):to_be(0)
    db:exec "DELETE FROM offices WHERE code = 'X'; DROP TABLE migration_mappings"
    ok, err = pcall(project.up, ID .. ":adopt")
    expect(err):to_contain("weir: 001_legacy_dispatch:adopt: up failed: offices holds 3 rows, and there is no migration_mappings table to say which legacy rows they are")
  end)
end)

describe("cleanup", function()
  it("drops the unused columns, and down puts them back with their values, default and NOT NULL", function()
    earlier_tooling()
    local profiles = digest "SELECT id, fax, pager, legacy_role FROM profiles"
    local products = digest "SELECT id, legacy_sku, legacy_category, old_price FROM products"
    project.up(ID .. ":cleanup")
    expect(db:value [[SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'
                       AND column_name IN ('fax', 'pager', 'legacy_role', 'legacy_sku', 'legacy_category', 'old_price')]]):to_be(0)
    expect(db:value "SELECT count(*) FROM dispatch_cleanup_backup.profiles"):to_be(2)
    project.down(ID .. ":cleanup")
    expect(digest "SELECT id, fax, pager, legacy_role FROM profiles"):to_be(profiles)
    expect(digest "SELECT id, legacy_sku, legacy_category, old_price FROM products"):to_be(products)
    expect(db:value [[SELECT column_default || ' ' || is_nullable FROM information_schema.columns
                       WHERE table_name = 'products' AND column_name = 'old_price']]):to_be("0 NO")
    expect(db:value "SELECT to_regnamespace('dispatch_cleanup_backup')"):to_be_nil()
  end)

  it("refuses a column something depends on", function()
    earlier_tooling()
    db:exec "CREATE INDEX profiles_fax_idx ON profiles (fax)"
    local ok, err = pcall(project.up, ID .. ":cleanup")
    expect(ok):to_be(false)
    expect(err):to_contain("weir: 001_legacy_dispatch:cleanup: up failed: profiles.fax is not unused: index profiles_fax_idx depends on it")
    expect(db:value "SELECT count(*) FROM information_schema.columns WHERE table_name = 'profiles' AND column_name = 'fax'")
      :to_be(1)
  end)

  it("on a new database, has nothing to drop", function()
    project.up(ID .. ":cleanup")
    expect(db:value "SELECT to_regnamespace('dispatch_cleanup_backup')"):to_be_nil()
  end)
end)
