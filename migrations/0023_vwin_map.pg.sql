-- 0023_vwin_map (PostgreSQL): the push half of the government map sync — see
-- 0023_vwin_map.sqlite.sql for what the columns mean. Here the kind CHECK is replaced in place.

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

ALTER TABLE vwin_map_problems DROP CONSTRAINT vwin_map_problems_kind_check;
ALTER TABLE vwin_map_problems ADD CONSTRAINT vwin_map_problems_kind_check CHECK (kind IN
    ('missing_local', 'missing_map', 'changed', 'push_failed', 'change_unmatched'));
