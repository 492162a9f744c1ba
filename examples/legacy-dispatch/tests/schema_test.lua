-- The schema phase: it builds the new schema on an empty database, adopts tables that already
-- have the shape it writes (their rows kept, what they lack added), refuses others, naming the
-- differences, and its down removes only what it made. (weir test, from the example directory.)
local ID = "001_legacy_dispatch"
local TABLES = { "offices", "products", "profiles", "doctors", "patients", "orders", "comments" }

local function public_relations()
  return db:value "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
end

describe("schema", function()
  it("creates the seven tables with their keys, and down removes all of it", function()
    project.up(ID .. ":schema")
    for _, t in ipairs(TABLES) do
      expect(db:value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'id'", t))
        :to_be("uuid")
    end
    expect(db:value "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"):to_be(11)
    expect(db:value "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE '%\\_id\\_idx'"):to_be(10)
    project.down(ID)
    expect(public_relations()):to_be(0)
    expect(db:value "SELECT to_regtype('order_status')"):to_be_nil()
  end)

  it("adopts a table of its shape with its rows, adds the column and index it lacks, and leaves it on down", function()
    db:exec [[
      CREATE TABLE offices (id uuid PRIMARY KEY, code text NOT NULL, name text NOT NULL, city text, phone text,
                            created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
      INSERT INTO offices VALUES (gen_random_uuid(), 'OF001', 'North', NULL, NULL, now(), now());
      CREATE TABLE profiles (id uuid PRIMARY KEY, office_id uuid REFERENCES offices, email text NOT NULL, full_name text NOT NULL,
                             role text NOT NULL, phone text, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
                             deleted_at timestamptz, fax text);
    ]]
    project.up(ID .. ":schema")
    expect(db:value "SELECT count(*) FROM offices"):to_be(1)
    expect(db:value "SELECT to_regclass('profiles_office_id_idx')"):to_be("profiles_office_id_idx")
    expect(db:value "SELECT count(*) FROM information_schema.columns WHERE table_name = 'offices' AND column_name = 'deleted_at'")
      :to_be(1)
    project.down(ID)
    -- the adopted tables stay as they were; what the phase made is gone
    expect(db:value "SELECT count(*) FROM offices"):to_be(1)
    expect(db:value "SELECT count(*) FROM information_schema.columns WHERE table_name = 'offices' AND column_name = 'deleted_at'")
      :to_be(0)
    expect(db:value "SELECT to_regclass('profiles_office_id_idx')"):to_be_nil()
    expect(db:value "SELECT to_regclass('profiles')"):to_be("profiles")
    expect(db:value "SELECT to_regclass('orders')"):to_be_nil()
  end)

  it("refuses tables of another shape, naming every difference, and makes nothing", function()
    db:exec [[
      CREATE TABLE offices (id uuid, code varchar(10) NOT NULL, name text NOT NULL, city text, phone text,
                            created_at timestamptz NOT NULL, updated_at timestamptz);
      CREATE TABLE comments (id uuid PRIMARY KEY, order_id uuid NOT NULL, body text NOT NULL);
    ]]
    local ok, err = pcall(project.up, ID .. ":schema")
    expect(ok):to_be(false)
    expect(err):to_contain("weir: 001_legacy_dispatch:schema: up failed: cannot adopt the existing tables, which " ..
      "differ from what this migration writes: offices.id is nullable, this migration expects NOT NULL; " ..
      "offices.code is character varying(10), this migration writes text; " ..
      "offices.updated_at is nullable, this migration expects NOT NULL; offices has no primary key on id (the upsert needs it); " ..
      "comments has no column author_id (uuid NOT NULL); comments has no column created_at (timestamp with time zone NOT NULL); " ..
      "comments has no column updated_at (timestamp with time zone NOT NULL)")
    expect(db:value "SELECT to_regclass('profiles')"):to_be_nil()
    expect(db:value "SELECT to_regtype('order_status')"):to_be_nil()
  end)
end)
