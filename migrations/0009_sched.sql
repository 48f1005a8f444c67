-- 0009_sched: scheduled jobs and their runs (src/sched/).
--
-- A job row is created from the code's defaults when a module registers its handler; an
-- operator may change cron, enabled, timeout_s and retries (customized = 1 from then on, and
-- the code's defaults, kept in default_*, no longer replace them). Times are ms since the
-- epoch; cron is evaluated in UTC+08:00.
--
-- Exactly once across nodes: a node claims a due time by moving next_run_at from the value
-- it read to the next one with a compare-and-swap UPDATE (one winner) that also takes the
-- lease (lease_owner, lease_until). The lease describes the run being worked on: lease_for
-- (its due time, or the request time of a manual run), lease_attempt (attempts started so
-- far), lease_manual, lease_by. The owner renews lease_until while it works and clears the
-- lease when the run is over; a lease that runs out (a node died) is taken over by another
-- node as the run's next attempt. A manual run waits in manual_at / manual_by until a node
-- claims it.
CREATE TABLE sched_jobs (
    name               TEXT PRIMARY KEY,
    title              TEXT NOT NULL,
    owner              TEXT NOT NULL,
    cron               TEXT NOT NULL,
    enabled            INTEGER NOT NULL DEFAULT 1,
    timeout_s          INTEGER NOT NULL,
    retries            INTEGER NOT NULL,
    customized         INTEGER NOT NULL DEFAULT 0,
    default_cron       TEXT NOT NULL,
    default_timeout_s  INTEGER NOT NULL,
    default_retries    INTEGER NOT NULL,
    next_run_at        BIGINT NOT NULL,
    lease_owner        TEXT,
    lease_until        BIGINT,
    lease_for          BIGINT,
    lease_attempt      INTEGER NOT NULL DEFAULT 0,
    lease_manual       INTEGER NOT NULL DEFAULT 0,
    lease_by           TEXT,
    manual_at          BIGINT,
    manual_by          TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

-- One row per attempt. outcome 'running' until the attempt ends (or its node is found
-- dead: 'failed'). The unique index is the database's own guard of "each due time once":
-- a second claim of one (job, due time, attempt) cannot be recorded.
CREATE TABLE sched_runs (
    id             {{ID}},
    job            TEXT NOT NULL REFERENCES sched_jobs (name),
    scheduled_for  BIGINT NOT NULL,
    node           TEXT NOT NULL,
    started_at     BIGINT NOT NULL,
    finished_at    BIGINT,
    outcome        TEXT NOT NULL
                   CHECK (outcome IN ('running', 'ok', 'failed', 'timeout')),
    attempt        INTEGER NOT NULL,
    manual         INTEGER NOT NULL DEFAULT 0,
    triggered_by   TEXT,
    message        TEXT
);
CREATE UNIQUE INDEX sched_runs_once ON sched_runs (job, scheduled_for, manual, attempt);
CREATE INDEX sched_runs_job ON sched_runs (job, id);
