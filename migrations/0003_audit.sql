-- 0003_audit: the tamper-evident audit log (src/audit/).
--
-- hash = hex(SM3(prev_hash || canonical row)); ids are assigned by the chain (no gaps), so
-- id is a plain key, not an identity column. audit_head holds the last link: appenders
-- update it first (which serialises them on both engines) and audit_verify compares it with
-- the last row, so rows deleted from the end are detected too.
CREATE TABLE audit_log (
    id          BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    BIGINT,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    detail      TEXT,
    client_ip   TEXT,
    trace_id    TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);

CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_id    BIGINT NOT NULL,
    last_hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
