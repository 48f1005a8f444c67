-- 0004_outbox: the transactional outbox (src/events/outbox*.c).
--
-- A row is written in the same transaction as the business change it announces, so the
-- change and the promise to deliver it commit or vanish together. Workers claim due rows
-- with a lease (status 'delivering', locked_by, locked_until), deliver them outside any
-- transaction, then mark them 'done', or 'pending' again with a later next_attempt_at, or
-- 'dead' after the kind's last attempt. A lease that runs out (a worker died between claim
-- and finish) puts the row back to 'pending': delivery is at-least-once, and receivers
-- dedupe on idempotency_key.
CREATE TABLE events (
    id               {{ID}},
    kind             TEXT NOT NULL,
    aggregate        TEXT,
    payload          TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivering', 'done', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    locked_by        TEXT,
    locked_until     BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    done_at          BIGINT
);

-- The claim query: due pending rows in order; also finds expired leases (status
-- 'delivering', locked_until in the past) and feeds the per-status counts.
CREATE INDEX events_due ON events (status, next_attempt_at);
-- Operators look events up by what they are about ("case:123").
CREATE INDEX events_aggregate ON events (aggregate);
