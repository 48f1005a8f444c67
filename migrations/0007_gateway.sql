-- 0007_gateway: connectors, mocks and the call log of the interface service platform
-- (src/gateway/, docs/gateway.md).
--
-- A connector is a JSON document (doc) without its secrets; the secrets (passwords, token
-- secrets, keys) are one JSON object sealed with the keyring (context
-- "gateway_connectors.secret") in secret_enc and never leave the server. rev is the
-- optimistic-concurrency revision an edit must name.
CREATE TABLE gateway_connectors (
    id          {{ID}},
    name        TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    doc         TEXT NOT NULL,
    secret_enc  {{BLOB}},
    rev         BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT
);

-- Mocks (docs/gateway.md "Mocks and simulator scenarios"): doc holds match, status,
-- delay_ms and response. A connector in mock mode, or a caller forced to mock, is answered
-- by the most specific matching mock of its method.
CREATE TABLE gateway_mocks (
    id          {{ID}},
    connector   TEXT NOT NULL,
    method      TEXT NOT NULL,
    title       TEXT,
    doc         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX gateway_mocks_method ON gateway_mocks (connector, method);

-- One row per outbound call, written in batches by the log thread. The id is made by the
-- writer (time-ordered, see gateway_log.c) so the caller knows it before the row exists.
-- day is the call's date in China Standard Time as YYYYMMDD, for the statistics.
-- request/response hold the masked JSON text; mocked marks answers that came from a mock.
CREATE TABLE gateway_calls (
    id              BIGINT PRIMARY KEY,
    trace_id        TEXT,
    connector       TEXT NOT NULL,
    method          TEXT NOT NULL,
    caller_module   TEXT,
    caller_user     TEXT,
    caller_user_id  BIGINT,
    started_at      BIGINT NOT NULL,
    day             INTEGER NOT NULL,
    latency_us      BIGINT NOT NULL,
    outcome         TEXT NOT NULL,
    mocked          INTEGER NOT NULL DEFAULT 0,
    http_status     INTEGER,
    attempts        INTEGER NOT NULL,
    request         TEXT,
    response        TEXT,
    error           TEXT
);
CREATE INDEX gateway_calls_started ON gateway_calls (started_at);
CREATE INDEX gateway_calls_trace ON gateway_calls (trace_id);
-- The statistics walk one (connector, method, day) group in latency order for percentiles.
CREATE INDEX gateway_calls_stats ON gateway_calls (day, connector, method, latency_us);
CREATE INDEX gateway_calls_conn ON gateway_calls (connector, method, id);
