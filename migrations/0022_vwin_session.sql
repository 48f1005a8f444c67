-- 0022_vwin_session: video sessions of the remote virtual window (src/vwin/vwin_session*.c,
-- docs/vwin.md "Sessions").
--
-- A session joins a called terminal ticket, its terminal, the clerk who called it and, once
-- the clerk opened one, a case. It is made when the ticket is called (pre-warming) and ends
-- on an explicit end, with the ticket, or by the sweeper. Signalling (SDP, ICE) is relayed
-- over the WebSocket hub and never stored: the evidence trail keeps a summary.

CREATE TABLE vwin_sessions (
    id                  {{ID}},
    ticket_id           BIGINT NOT NULL REFERENCES queue_tickets (id),
    terminal            TEXT NOT NULL,
    terminal_user_id    BIGINT,
    point               TEXT,
    centre_id           BIGINT NOT NULL REFERENCES orgs (id),
    window_id           BIGINT,
    clerk_id            BIGINT NOT NULL REFERENCES users (id),
    case_no             TEXT,
    provider            TEXT NOT NULL,
    room                TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('waiting', 'active', 'ended', 'dropped')),
    clerk_joined_at     BIGINT,
    terminal_joined_at  BIGINT,
    clerk_seen_at       BIGINT,
    terminal_seen_at    BIGINT,
    candidates          INTEGER NOT NULL DEFAULT 0,
    ended_at            BIGINT,
    end_reason          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    version             INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX vwin_sessions_ticket ON vwin_sessions (ticket_id);
CREATE INDEX vwin_sessions_open ON vwin_sessions (state, updated_at);
CREATE INDEX vwin_sessions_terminal ON vwin_sessions (terminal, state);

-- In-call commands (二次读卡, 推送申请表) and their results.
CREATE TABLE vwin_session_commands (
    id          {{ID}},
    session_id  BIGINT NOT NULL REFERENCES vwin_sessions (id),
    kind        TEXT NOT NULL CHECK (kind IN ('card_read', 'form_push')),
    args        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('sent', 'done', 'failed', 'cancelled')),
    result      TEXT,
    message     TEXT,
    created_by  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX vwin_session_commands_session ON vwin_session_commands (session_id);

-- The evidence trail: one hash chain per session (chain = 'session:<id>'), each row
-- hash = SM3(prev_hash || canonical JSON of {at, case_no, kind, payload, seq, session}).
CREATE TABLE vwin_evidence (
    id          {{ID}},
    chain       TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    session_id  BIGINT NOT NULL REFERENCES vwin_sessions (id),
    case_no     TEXT,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX vwin_evidence_case ON vwin_evidence (case_no);
