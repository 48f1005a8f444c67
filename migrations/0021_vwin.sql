-- 0021_vwin: places and terminals of the remote virtual window (src/vwin/, docs/vwin.md).
--
-- Points are extension points (延伸点) and 上门办 service areas, each under a responsible
-- centre; terminals (kiosks, PADs) are bound to a point and act through a service user of
-- role 'terminal' (no password login) with a device session. The map tables record the
-- government map sync: one row per run, one row per mismatch found (the problem ticket).

CREATE TABLE vwin_points (
    id          {{ID}},
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('extension', 'home')),
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    address     TEXT NOT NULL,
    lng         DOUBLE PRECISION NOT NULL,
    lat         DOUBLE PRECISION NOT NULL,
    radius_m    INTEGER NOT NULL,
    hours       TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '[]',
    active      INTEGER NOT NULL DEFAULT 1,
    map_id      TEXT,
    map_synced_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX vwin_points_org ON vwin_points (org_id);

-- The device credential: enrol_hash (SM3 of the 8-digit enrolment code, until it is used or
-- expires) and secret_hash (SM3 of the device secret). Live state: last_seen_at, location,
-- the last self-check, the session it reports. alerted: the state last alerted on, so an
-- alert is raised once per change.
CREATE TABLE vwin_terminals (
    id              {{ID}},
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('kiosk', 'pad')),
    point_id        BIGINT NOT NULL REFERENCES vwin_points (id),
    user_id         BIGINT NOT NULL REFERENCES users (id),
    peripherals     TEXT NOT NULL DEFAULT '[]',
    active          INTEGER NOT NULL DEFAULT 1,
    enrol_hash      TEXT,
    enrol_expires   BIGINT,
    enrol_fails     INTEGER NOT NULL DEFAULT 0,
    secret_hash     TEXT,
    enrolled_at     BIGINT,
    device          TEXT,
    last_seen_at    BIGINT,
    location        TEXT,
    location_ok     INTEGER,
    self_check      TEXT,
    self_check_ok   INTEGER NOT NULL DEFAULT 0,
    self_check_at   BIGINT,
    in_session      TEXT,
    alerted         TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX vwin_terminals_point ON vwin_terminals (point_id);
CREATE INDEX vwin_terminals_user ON vwin_terminals (user_id);

CREATE TABLE vwin_map_runs (
    id          {{ID}},
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'mismatch', 'failed')),
    local_total INTEGER NOT NULL DEFAULT 0,
    map_total   INTEGER NOT NULL DEFAULT 0,
    matched     INTEGER NOT NULL DEFAULT 0,
    changed_today INTEGER NOT NULL DEFAULT 0,
    problems    INTEGER NOT NULL DEFAULT 0,
    message     TEXT,
    manual      INTEGER NOT NULL DEFAULT 0
);

-- One mismatch: kind missing_local (on the map, not here), missing_map (here, not on the
-- map), changed (fields differ: detail lists them).
CREATE TABLE vwin_map_problems (
    id          {{ID}},
    run_id      BIGINT NOT NULL REFERENCES vwin_map_runs (id),
    kind        TEXT NOT NULL CHECK (kind IN ('missing_local', 'missing_map', 'changed')),
    point       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    note        TEXT,
    created_at  BIGINT NOT NULL,
    closed_at   BIGINT,
    closed_by   BIGINT REFERENCES users (id)
);
CREATE INDEX vwin_map_problems_run ON vwin_map_problems (run_id);
CREATE INDEX vwin_map_problems_state ON vwin_map_problems (state, id);

-- Device sessions have a lifetime of their own (terminal_session_s), renewed by heartbeats:
-- when set, it replaces the absolute timeout of session_abs_s for that session.
ALTER TABLE sessions ADD COLUMN expires_at BIGINT;
