-- 0010_open: open APIs — Shouli's own APIs offered to other systems (src/gateway/gateway_open*.c,
-- docs/gateway.md "Open APIs").
--
-- A credential (key id + HMAC-SM3 secret, or an SM2 public key) signs each request; a grant
-- gives one credential one open API within a time window, a daily quota and a per-minute
-- rate. Every call, refused or served, leaves a row in open_calls.

-- The open APIs on offer. The server defines them (name, method, route) and inserts missing
-- rows at start; title, description, the mock answered to debug credentials and enabled are
-- the operator's.
CREATE TABLE open_apis (
    id           {{ID}},
    name         TEXT NOT NULL UNIQUE,
    method       TEXT NOT NULL,
    route        TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT,
    mock         TEXT NOT NULL,
    mock_status  INTEGER NOT NULL DEFAULT 200,
    enabled      INTEGER NOT NULL DEFAULT 1,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Credentials of calling systems. kind 'hmac_sm3': secret_enc is the secret sealed with the
-- keyring (SM4-GCM, context "open_credentials.secret:<key_id>"); it is shown once when made
-- or rotated and never returned again. kind 'sm2': public_key is the caller's PEM public key.
-- debug credentials receive each API's mock instead of live data.
CREATE TABLE open_credentials (
    id                 {{ID}},
    key_id             TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL CHECK (kind IN ('hmac_sm3', 'sm2')),
    secret_enc         {{BLOB}},
    public_key         TEXT,
    owner              TEXT NOT NULL,
    description        TEXT,
    debug              INTEGER NOT NULL DEFAULT 0,
    enabled            INTEGER NOT NULL DEFAULT 1,
    secret_rotated_at  BIGINT,
    version            INTEGER NOT NULL DEFAULT 1,
    created_by         TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

-- Grants: credential × open API (by name) × window × quota × rate. weekdays is a bit set
-- (bit d-1 for ISO weekday d, 1 = Monday); [time_from, time_to) are minutes after midnight,
-- Asia/Shanghai (time_to up to 1440; time_from > time_to spans midnight). daily_quota and
-- rate_per_min: 0 = no limit.
CREATE TABLE open_grants (
    id             {{ID}},
    credential_id  BIGINT NOT NULL REFERENCES open_credentials (id),
    api            TEXT NOT NULL,
    weekdays       INTEGER NOT NULL CHECK (weekdays BETWEEN 1 AND 127),
    time_from      INTEGER NOT NULL CHECK (time_from BETWEEN 0 AND 1439),
    time_to        INTEGER NOT NULL CHECK (time_to BETWEEN 1 AND 1440),
    daily_quota    BIGINT NOT NULL DEFAULT 0,
    rate_per_min   BIGINT NOT NULL DEFAULT 0,
    enabled        INTEGER NOT NULL DEFAULT 1,
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (credential_id, api)
);

-- Calls counted against each grant's daily quota, per Asia/Shanghai day (YYYY-MM-DD). The
-- counter is raised with a conditional upsert, so the quota holds across nodes.
CREATE TABLE open_usage (
    grant_id  BIGINT NOT NULL REFERENCES open_grants (id),
    day       TEXT NOT NULL,
    calls     BIGINT NOT NULL,
    PRIMARY KEY (grant_id, day)
);

-- The open call log: every call of a known credential, served or refused. outcome: 'ok'
-- (live data), 'mock' (a debug credential's mock), 'refused' (signature, replay, grant,
-- window, quota, rate), 'error' (the handler failed). signing_string is the string the
-- server computed, so an integrator whose signature is refused can compare it with theirs.
-- Rows outlive their credential (no foreign key): key_id says whose they were.
CREATE TABLE open_calls (
    id              {{ID}},
    at              BIGINT NOT NULL,
    credential_id   BIGINT,
    key_id          TEXT,
    api             TEXT,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    status          INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    code            TEXT,
    message         TEXT,
    latency_us      BIGINT NOT NULL DEFAULT 0,
    client_ip       TEXT,
    trace_id        TEXT,
    signing_string  TEXT,
    request         TEXT,
    response        TEXT
);
CREATE INDEX open_calls_credential ON open_calls (credential_id, id);
CREATE INDEX open_calls_at ON open_calls (at);
