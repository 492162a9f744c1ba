-- Rename and move pairs: the two sides differ only by the name or schema of objects, so
-- `schema.diff(a, b, {renames = true})` renames or moves them (keeping rows) instead of dropping
-- and creating them. tests/lua/schema_roundtrip_test.lua runs each in both directions, with
-- renames and without (then each drop must carry a note naming the ALTER).

==== r1 a table renamed, with its rows
---- from
CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL);
INSERT INTO accounts VALUES (1, 'a@x');
---- to
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);
INSERT INTO users VALUES (1, 'a@x');

==== r2 a column renamed, an index renamed
---- from
CREATE TABLE t (id int, mail text);
CREATE INDEX t_by_id ON t (id);
INSERT INTO t VALUES (1, 'x');
---- to
CREATE TABLE t (id int, email text);
CREATE INDEX t_id_idx ON t (id);
INSERT INTO t VALUES (1, 'x');

==== r3 tables and types moved to another schema
---- from
CREATE SCHEMA app;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TABLE plans (id int, m mood);
INSERT INTO plans VALUES (1, 'ok');
---- to
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('ok', 'sad');
CREATE TABLE app.plans (id int, m app.mood);
INSERT INTO app.plans VALUES (1, 'ok');

==== r4 a view, a sequence and a function renamed
---- from
CREATE TABLE t (a int);
CREATE VIEW old_v AS SELECT a FROM t;
CREATE SEQUENCE old_s;
CREATE FUNCTION old_f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';
---- to
CREATE TABLE t (a int);
CREATE VIEW new_v AS SELECT a FROM t;
CREATE SEQUENCE new_s;
CREATE FUNCTION new_f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';
