-- 0023_vwin_map (SQLite): the push half of the government map sync (src/vwin/vwin_map.c,
-- docs/vwin.md "Map").
--
-- vwin_points gains the push state: map_hash (SM3 of the record last pushed to the map, or
-- "inactive" once deactivated there) and map_pushed_at; a point whose record no longer hashes
-- to map_hash is pushed again. vwin_map_pushes logs every push (ok or failed): the day's ok
-- pushes are what the map's change log of the day is reconciled against. vwin_map_runs counts
-- pushes. Two problem kinds join the CHECK of vwin_map_problems: push_failed (a point the map
-- did not take) and change_unmatched (the two days' change logs disagree). SQLite cannot
-- change a CHECK in place, so the table is rebuilt (nothing references it);
-- 0023_vwin_map.pg.sql does the same with ALTER TABLE.

ALTER TABLE vwin_points ADD COLUMN map_hash TEXT;
ALTER TABLE vwin_points ADD COLUMN map_pushed_at BIGINT;

ALTER TABLE vwin_map_runs ADD COLUMN pushed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vwin_map_runs ADD COLUMN push_failed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE vwin_map_pushes (
    id          {{ID}},
    run_id      BIGINT NOT NULL REFERENCES vwin_map_runs (id),
    point       TEXT NOT NULL,
    map_id      TEXT,
    op          TEXT NOT NULL CHECK (op IN ('create', 'update', 'deactivate')),
    effect      TEXT NOT NULL DEFAULT 'none',
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    message     TEXT,
    hash        TEXT,
    pushed_at   BIGINT NOT NULL
);
CREATE INDEX vwin_map_pushes_at ON vwin_map_pushes (pushed_at);
CREATE INDEX vwin_map_pushes_run ON vwin_map_pushes (run_id);

CREATE TABLE vwin_map_problems_0023 (
    id          {{ID}},
    run_id      BIGINT NOT NULL REFERENCES vwin_map_runs (id),
    kind        TEXT NOT NULL CHECK (kind IN ('missing_local', 'missing_map', 'changed',
                    'push_failed', 'change_unmatched')),
    point       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    note        TEXT,
    created_at  BIGINT NOT NULL,
    closed_at   BIGINT,
    closed_by   BIGINT REFERENCES users (id)
);
INSERT INTO vwin_map_problems_0023 (id, run_id, kind, point, detail, state, note, created_at,
    closed_at, closed_by)
    SELECT id, run_id, kind, point, detail, state, note, created_at, closed_at, closed_by
    FROM vwin_map_problems;
DROP TABLE vwin_map_problems;
ALTER TABLE vwin_map_problems_0023 RENAME TO vwin_map_problems;
CREATE INDEX vwin_map_problems_run ON vwin_map_problems (run_id);
CREATE INDEX vwin_map_problems_state ON vwin_map_problems (state, id);
