-- 0012_cases: cases (办件) of the window acceptance (src/cases/, docs/cases.md).
--
-- A case is opened by a clerk of a centre for one sub-item of the catalog, whose version is
-- pinned (catalog_pins, case_ref = case_no). Personal data is sealed (src/sensitive/): the
-- form, the prefill sources and errors as keyring blobs (contexts "cases.form",
-- "cases.sources", "cases.prefill_errors"), the parties column by column with blind indexes.
-- No foreign key to residents: the ident module's table may be rebuilt independently.

CREATE TABLE cases (
    id                  {{ID}},
    case_no             TEXT NOT NULL UNIQUE,
    org_id              BIGINT NOT NULL REFERENCES orgs (id),
    resident_id         BIGINT NOT NULL,
    item_code           TEXT NOT NULL,
    item_name           TEXT NOT NULL,
    sub_item_code       TEXT NOT NULL,
    sub_item_name       TEXT NOT NULL,
    version_id          BIGINT NOT NULL REFERENCES catalog_versions (id),
    case_type           INTEGER NOT NULL CHECK (case_type IN (1, 2)),
    promised_days       INTEGER NOT NULL DEFAULT 0,
    channel             INTEGER NOT NULL DEFAULT 1,
    state               TEXT NOT NULL CHECK (state IN ('draft', 'accepted', 'in_progress',
                            'correction', 'completed', 'refused', 'withdrawn')),
    -- the state a correction came from (resume goes back to it)
    prev_state          TEXT,
    version             INTEGER NOT NULL DEFAULT 1,
    -- applicant as shown in lists (already masked: not personal data) and the blind index
    -- of the applicant's document number (purpose "bidx:cases.applicant_id_number")
    applicant_mask      TEXT NOT NULL DEFAULT '',
    applicant_id_mask   TEXT NOT NULL DEFAULT '',
    applicant_id_bidx   TEXT,
    form_enc            {{BLOB}},
    sources_enc         {{BLOB}},
    prefill_errors_enc  {{BLOB}},
    -- pre-review: {"verdicts":[…],"blocked":bool}, not personal data (rule ids and messages)
    prereview           TEXT,
    prereview_at        BIGINT,
    -- override of blocking pre-review rules: {"rules":[ids],"reason","by","by_name","at"}
    override            TEXT,
    accepted_at         BIGINT,
    accepted_by         BIGINT REFERENCES users (id),
    promised_date       TEXT,
    -- the open correction: {"items":[…],"note","day","at","by"}; paused_days counts the
    -- working days added to promised_date by finished corrections
    correction          TEXT,
    paused_at           BIGINT,
    paused_day          TEXT,
    paused_days         INTEGER NOT NULL DEFAULT 0,
    -- completion and the terminal reasons
    result              TEXT CHECK (result IS NULL OR result IN ('approved', 'rejected')),
    result_opinion      TEXT,
    cert_no             TEXT,
    completed_at        BIGINT,
    closed_reason       TEXT,
    closed_at           BIGINT,
    parent_id           BIGINT REFERENCES cases (id),
    created_by          BIGINT NOT NULL REFERENCES users (id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX cases_org_created ON cases (org_id, created_at);
CREATE INDEX cases_org_state ON cases (org_id, state, created_at);
CREATE INDEX cases_created_by ON cases (created_by, created_at);
CREATE INDEX cases_resident_sub ON cases (resident_id, sub_item_code, state);
CREATE INDEX cases_applicant_bidx ON cases (applicant_id_bidx);
CREATE INDEX cases_promised ON cases (state, promised_date);

-- Parties of an accepted case (申请人, 代理人, 监护人, 协助人), from the form's applicant.*,
-- agent.*, guardian.*, helper.* fields; sealed columns "case_parties.<field>".
CREATE TABLE case_parties (
    id              {{ID}},
    case_id         BIGINT NOT NULL REFERENCES cases (id),
    role            TEXT NOT NULL CHECK (role IN ('applicant', 'agent', 'guardian', 'helper')),
    id_type         TEXT,
    id_number_enc   {{BLOB}},
    id_number_bidx  TEXT,
    name_enc        {{BLOB}},
    name_bidx       TEXT,
    phone_enc       {{BLOB}},
    phone_bidx      TEXT,
    created_at      BIGINT NOT NULL,
    UNIQUE (case_id, role)
);
CREATE INDEX case_parties_id_number ON case_parties (id_number_bidx);
CREATE INDEX case_parties_name ON case_parties (name_bidx);

-- The timeline: one row per action (and per notable event such as a duplicate confirmed).
CREATE TABLE case_events (
    id          {{ID}},
    case_id     BIGINT NOT NULL REFERENCES cases (id),
    at          BIGINT NOT NULL,
    actor_id    BIGINT REFERENCES users (id),
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT,
    detail      TEXT
);
CREATE INDEX case_events_case ON case_events (case_id, id);

-- Corrections (补正): requested (the clock pauses), resumed (the working days of the pause
-- are added to promised_date).
CREATE TABLE case_corrections (
    id             {{ID}},
    case_id        BIGINT NOT NULL REFERENCES cases (id),
    from_state     TEXT NOT NULL,
    items          TEXT NOT NULL,
    note           TEXT,
    requested_at   BIGINT NOT NULL,
    requested_by   BIGINT REFERENCES users (id),
    request_day    TEXT NOT NULL,
    resumed_at     BIGINT,
    resumed_by     BIGINT REFERENCES users (id),
    resume_day     TEXT,
    paused_days    INTEGER
);
CREATE INDEX case_corrections_case ON case_corrections (case_id, id);

-- Case numbers: per centre and day (China Standard Time), incremented in the opening
-- transaction.
CREATE TABLE case_seq (
    org_id  BIGINT NOT NULL REFERENCES orgs (id),
    day     TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (org_id, day)
);

-- The working-day calendar: statutory holidays and worked weekend days (调休). Loaded from
-- calendar/<year>.json at start (the files win for the days they list); 'normal' rows are
-- an operator's explicit "ordinary day" overriding nothing but an earlier row.
CREATE TABLE calendar_days (
    day          TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('holiday', 'workday', 'normal')),
    name         TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL CHECK (source IN ('file', 'admin')),
    updated_by   BIGINT,
    updated_at   BIGINT NOT NULL
);
