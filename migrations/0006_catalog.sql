-- 0006_catalog: the service item catalog as versioned data (src/catalog/).
--
-- The files under catalog/ are the reviewed source; an import stores them here. Items keep
-- every version: one editable draft at most (rev is its optimistic counter) and immutable
-- published versions with the date they take effect. A case pins the version it was opened
-- under (catalog_pins), so a later version or a code change never alters an open case.

-- One row per import (CLI, demo start or the admin API), for the history of the
-- departments and code tables stored with it.
CREATE TABLE catalog_imports (
    id          {{ID}},
    source      TEXT NOT NULL,
    created     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    actor_id    BIGINT,
    actor_name  TEXT,
    created_at  BIGINT NOT NULL
);

-- Departments (the whole departments.json, name 'departments') and code tables (one row per
-- table, name = table id) as JSON documents. A new row is written only when the content
-- changed; the current document of a name is its row with the highest id.
CREATE TABLE catalog_docs (
    id          {{ID}},
    kind        TEXT NOT NULL CHECK (kind IN ('departments', 'code_table')),
    name        TEXT NOT NULL,
    doc         TEXT NOT NULL,
    hash        TEXT NOT NULL,
    import_id   BIGINT REFERENCES catalog_imports (id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX catalog_docs_name ON catalog_docs (kind, name, id);

-- basic_code is the item's current code (a code change rewrites it; the old code stays
-- resolvable through catalog_code_changes).
CREATE TABLE catalog_items (
    id          {{ID}},
    basic_code  TEXT NOT NULL UNIQUE,
    department  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX catalog_items_department ON catalog_items (department, basic_code);

-- Versions of an item. doc is the item's JSON (keys in file order); hash the SM3 (hex) of
-- its canonical form (compact, keys sorted), so formatting never makes a new version.
-- effective_from (YYYY-MM-DD, China Standard Time) is NULL for a draft. A draft always
-- carries the number after the last published one; base_version is the published version
-- it was created from. The current version of an item for new cases is its highest
-- published version whose effective_from <= today; older ones become 'retired'.
CREATE TABLE catalog_versions (
    id                 {{ID}},
    item_id            BIGINT NOT NULL REFERENCES catalog_items (id),
    version            INTEGER NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('draft', 'published', 'retired')),
    name               TEXT NOT NULL,
    doc                TEXT NOT NULL,
    hash               TEXT NOT NULL,
    effective_from     TEXT,
    base_version       INTEGER,
    rev                INTEGER NOT NULL DEFAULT 1,
    created_by         BIGINT,
    created_by_name    TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    published_by       BIGINT,
    published_by_name  TEXT,
    published_at       BIGINT,
    UNIQUE (item_id, version)
);
CREATE UNIQUE INDEX catalog_versions_one_draft ON catalog_versions (item_id)
    WHERE status = 'draft';
CREATE INDEX catalog_versions_status ON catalog_versions (status, item_id, version);

-- The sub-items of each published version, flattened for lookups by sub-item code.
CREATE TABLE catalog_subitems (
    version_id  BIGINT NOT NULL REFERENCES catalog_versions (id),
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (version_id, code)
);
CREATE INDEX catalog_subitems_code ON catalog_subitems (code);

-- Code changes (seed row 29): old -> new from the effective date. 'applied' once the item's
-- basic_code was rewritten (and a version with the new codes published).
CREATE TABLE catalog_code_changes (
    id               {{ID}},
    item_id          BIGINT NOT NULL REFERENCES catalog_items (id),
    old_code         TEXT NOT NULL,
    new_code         TEXT NOT NULL UNIQUE,
    effective        TEXT NOT NULL,
    reason           TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('scheduled', 'applied')),
    created_by       BIGINT,
    created_by_name  TEXT,
    created_at       BIGINT NOT NULL,
    applied_at       BIGINT
);
CREATE INDEX catalog_code_changes_old ON catalog_code_changes (old_code);
CREATE INDEX catalog_code_changes_due ON catalog_code_changes (status, effective);

-- A case's pinned version. sub_item_code/item_code are the codes at the time the case was
-- opened (the 办件库 report maps them through catalog_code_changes).
CREATE TABLE catalog_pins (
    id             {{ID}},
    case_ref       TEXT NOT NULL,
    sub_item_code  TEXT NOT NULL,
    item_code      TEXT NOT NULL,
    item_id        BIGINT NOT NULL REFERENCES catalog_items (id),
    version_id     BIGINT NOT NULL REFERENCES catalog_versions (id),
    state          TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    org_id         BIGINT REFERENCES orgs (id),
    opened_at      BIGINT NOT NULL,
    closed_at      BIGINT
);
CREATE UNIQUE INDEX catalog_pins_case ON catalog_pins (case_ref, sub_item_code);
CREATE INDEX catalog_pins_open ON catalog_pins (item_id, state);

-- One row: bumped by every change to published data, so that each node rebuilds its
-- in-memory search index when another node published.
CREATE TABLE catalog_meta (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
INSERT INTO catalog_meta (id, generation, updated_at) VALUES (1, 0, 0);
