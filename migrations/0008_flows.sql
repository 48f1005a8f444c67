-- 0008_flows: gateway flows (src/gateway/gateway_flow*.c, docs/gateway.md "Flow").
--
-- A flow is a JSON document (ordered connector calls with templates, conditions and error
-- policies). The files under gateway/flows/ seed the table when a name has never been
-- stored; after that the database copy is the one in force, edited through the admin API
-- with an optimistic revision. A deleted flow keeps its row (deleted = 1) so that a restart
-- does not seed it again and old runs still name it.
CREATE TABLE gateway_flows (
    id          {{ID}},
    name        TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    doc         TEXT NOT NULL,
    rev         BIGINT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('seed', 'admin')),
    deleted     INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT
);

-- One row per execution of a flow (synchronous, asynchronous attempt, or debug run from the
-- admin UI). status: running until it ends, then ok | partial (a `continue` step failed) |
-- failed (stopped) | compensated (failed, every compensation succeeded) |
-- compensation_failed (failed, some compensation failed: an operator must look).
-- Parameters are not stored (they carry personal data); the steps' requests are, masked.
CREATE TABLE gateway_runs (
    id               {{ID}},
    flow             TEXT NOT NULL,
    flow_rev         BIGINT NOT NULL,
    mode             TEXT NOT NULL CHECK (mode IN ('sync', 'async', 'debug')),
    status           TEXT NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed',
                                                     'compensated', 'compensation_failed')),
    failed_step      TEXT,
    error_code       TEXT,
    error_message    TEXT,
    result           TEXT,
    idempotency_key  TEXT,
    event_id         BIGINT,
    attempt          INTEGER NOT NULL DEFAULT 1,
    trace_id         TEXT,
    caller_module    TEXT,
    caller_user      TEXT,
    steps            INTEGER NOT NULL DEFAULT 0,
    started_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    duration_us      BIGINT
);
CREATE INDEX gateway_runs_started ON gateway_runs (started_at);
CREATE INDEX gateway_runs_flow ON gateway_runs (flow, started_at);
CREATE INDEX gateway_runs_key ON gateway_runs (idempotency_key);

-- The steps of a run in execution order (seq from 1): the calls, the skipped steps and, after
-- a failure under `compensate`, the compensation calls (kind 'compensate'). request and
-- response are JSON with the method's sensitive fields masked.
CREATE TABLE gateway_run_steps (
    id           {{ID}},
    run_id       BIGINT NOT NULL REFERENCES gateway_runs (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    step         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('call', 'compensate')),
    connector    TEXT NOT NULL,
    method       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    http_status  INTEGER,
    request      TEXT,
    response     TEXT,
    error        TEXT,
    call_id      BIGINT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    started_at   BIGINT NOT NULL,
    duration_us  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX gateway_run_steps_run ON gateway_run_steps (run_id, seq);
