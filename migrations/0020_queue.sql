-- 0020_queue: queues and tickets of the centres (src/queue/, docs/queue.md).
--
-- A centre (orgs.level = 'centre') has item groups (排队组: A, B, …) that cover catalog
-- items or whole departments, and windows (窗口) that serve some groups. Tickets are
-- numbered per centre, day (Asia/Shanghai) and group code, and ordered by their original
-- issue time (issued_at), which a change of centre keeps. Terminals and points (src/vwin/,
-- later) are referred to by their text ids for now.

CREATE TABLE queue_groups (
    id          {{ID}},
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    UNIQUE (org_id, code)
);

-- What a group serves: catalog items (basic code) or departments (code of departments.json).
CREATE TABLE queue_group_covers (
    group_id  BIGINT NOT NULL REFERENCES queue_groups (id),
    org_id    BIGINT NOT NULL REFERENCES orgs (id),
    kind      TEXT NOT NULL CHECK (kind IN ('item', 'department')),
    code      TEXT NOT NULL,
    PRIMARY KEY (group_id, kind, code)
);
CREATE INDEX queue_group_covers_code ON queue_group_covers (kind, code);

CREATE TABLE queue_windows (
    id            {{ID}},
    org_id        BIGINT NOT NULL REFERENCES orgs (id),
    code          TEXT NOT NULL,
    name          TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    clerk_id      BIGINT REFERENCES users (id),
    signed_in_at  BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    UNIQUE (org_id, code)
);

CREATE TABLE queue_window_groups (
    window_id  BIGINT NOT NULL REFERENCES queue_windows (id),
    group_id   BIGINT NOT NULL REFERENCES queue_groups (id),
    PRIMARY KEY (window_id, group_id)
);

-- Ticket numbers: per centre, day and group code, incremented in the issuing transaction.
CREATE TABLE queue_seq (
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    day         TEXT NOT NULL,
    group_code  TEXT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, group_code)
);

-- Tickets. state: waiting → called → serving → done, with skipped (过号), suspended (the
-- terminal dropped mid-service), cancelled and expired (the sweeper). token_hash is the SM3
-- of the ticket's secret (given once, at issuance) with which the resident's terminal acts.
-- eval_state: NULL (no evaluation due), 'pending', 'done', 'expired'.
CREATE TABLE queue_tickets (
    id                {{ID}},
    org_id            BIGINT NOT NULL REFERENCES orgs (id),
    group_id          BIGINT NOT NULL REFERENCES queue_groups (id),
    day               TEXT NOT NULL,
    ticket_no         TEXT NOT NULL,
    item_code         TEXT,
    source            TEXT NOT NULL CHECK (source IN ('onsite', 'terminal')),
    terminal          TEXT,
    point             TEXT,
    token_hash        TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('waiting', 'called', 'serving',
                          'suspended', 'done', 'skipped', 'cancelled', 'expired')),
    prev_state        TEXT,
    window_id         BIGINT REFERENCES queue_windows (id),
    target_window_id  BIGINT REFERENCES queue_windows (id),
    clerk_id          BIGINT REFERENCES users (id),
    issued_at         BIGINT NOT NULL,
    called_at         BIGINT,
    started_at        BIGINT,
    finished_at       BIGINT,
    suspended_at      BIGINT,
    last_activity_at  BIGINT NOT NULL,
    call_count        INTEGER NOT NULL DEFAULT 0,
    case_no           TEXT,
    end_reason        TEXT,
    move_to_org       BIGINT REFERENCES orgs (id),
    move_proposed_at  BIGINT,
    moved_from_org    BIGINT REFERENCES orgs (id),
    eval_state        TEXT CHECK (eval_state IS NULL OR eval_state IN ('pending', 'done',
                          'expired')),
    issued_by         BIGINT REFERENCES users (id),
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (org_id, day, ticket_no)
);
CREATE INDEX queue_tickets_waiting ON queue_tickets (org_id, state, issued_at, id);
CREATE INDEX queue_tickets_window ON queue_tickets (window_id, state);
CREATE INDEX queue_tickets_group_done ON queue_tickets (group_id, state, finished_at);
CREATE INDEX queue_tickets_eval ON queue_tickets (eval_state, finished_at);

-- 好差评 (GB/T 39734): one rating per ticket, 1 非常满意 … 5 非常不满意; 4–5 are 差评.
CREATE TABLE queue_ratings (
    id          {{ID}},
    ticket_id   BIGINT NOT NULL UNIQUE REFERENCES queue_tickets (id),
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    window_id   BIGINT REFERENCES queue_windows (id),
    clerk_id    BIGINT REFERENCES users (id),
    case_no     TEXT,
    channel     TEXT NOT NULL,
    level       INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    comment     TEXT,
    tags        TEXT NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL
);
CREATE INDEX queue_ratings_org ON queue_ratings (org_id, created_at);

-- A 差评 must be followed up and rectified: one task per bad rating, due in N working days.
CREATE TABLE queue_followups (
    id          {{ID}},
    rating_id   BIGINT NOT NULL UNIQUE REFERENCES queue_ratings (id),
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    ticket_id   BIGINT NOT NULL REFERENCES queue_tickets (id),
    state       TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    due_day     TEXT NOT NULL,
    note        TEXT,
    created_at  BIGINT NOT NULL,
    closed_at   BIGINT,
    closed_by   BIGINT REFERENCES users (id)
);
CREATE INDEX queue_followups_org ON queue_followups (org_id, state, due_day);

-- Statistics hooks: one row per consultation or service, by centre, point and channel, for
-- the statistics module's rollups.
CREATE TABLE queue_stat_events (
    id          {{ID}},
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    ticket_id   BIGINT NOT NULL REFERENCES queue_tickets (id),
    kind        TEXT NOT NULL CHECK (kind IN ('consultation', 'service')),
    channel     TEXT NOT NULL,
    point       TEXT,
    terminal    TEXT,
    group_code  TEXT NOT NULL,
    day         TEXT NOT NULL,
    duration_ms BIGINT,
    at          BIGINT NOT NULL
);
CREATE INDEX queue_stat_events_org ON queue_stat_events (org_id, day);
