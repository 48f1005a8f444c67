-- 0018_separated (SQLite): 收受分离 — a case collected at one centre and forwarded to the
-- responsible centre (src/cases/cases_forward.c, docs/cases.md "收受分离").
--
-- The state "forwarded" joins the CHECK of cases.state. SQLite cannot change a CHECK in place,
-- so the table is rebuilt (the documented create-copy-drop-rename procedure; foreign keys of
-- case_parties, case_events, … are checked at the commit). 0018_separated.pg.sql does the same
-- with ALTER TABLE. Both add:
--   mode              'direct' (直接受理) | 'separated' (收受分离), chosen at opening
--   entry             'window' (a centre's own window) | 'virtual' (a 远程虚拟窗口), how the
--                     case was taken; with mode, what the statistics count (seed row 7)
--   receiving_org_id  the centre that opened the case (收件中心); org_id is the responsible
--                     centre (受理中心): the same until a separated case is forwarded
--   forwarded_at/_by, forward_note  the forwarding
-- shouli: foreign_keys=off

CREATE TABLE cases_0018 (
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
    state               TEXT NOT NULL CHECK (state IN ('draft', 'forwarded', 'accepted',
                            'in_progress', 'correction', 'completed', 'refused', 'withdrawn')),
    prev_state          TEXT,
    version             INTEGER NOT NULL DEFAULT 1,
    applicant_mask      TEXT NOT NULL DEFAULT '',
    applicant_id_mask   TEXT NOT NULL DEFAULT '',
    applicant_id_bidx   TEXT,
    form_enc            {{BLOB}},
    sources_enc         {{BLOB}},
    prefill_errors_enc  {{BLOB}},
    prereview           TEXT,
    prereview_at        BIGINT,
    override            TEXT,
    accepted_at         BIGINT,
    accepted_by         BIGINT REFERENCES users (id),
    promised_date       TEXT,
    correction          TEXT,
    paused_at           BIGINT,
    paused_day          TEXT,
    paused_days         INTEGER NOT NULL DEFAULT 0,
    result              TEXT CHECK (result IS NULL OR result IN ('approved', 'rejected')),
    result_opinion      TEXT,
    cert_no             TEXT,
    completed_at        BIGINT,
    closed_reason       TEXT,
    closed_at           BIGINT,
    parent_id           BIGINT REFERENCES cases (id),
    created_by          BIGINT NOT NULL REFERENCES users (id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    dept_case_no        TEXT,
    delivered_at        BIGINT,
    delivery_run_id     BIGINT,
    delivery_reported   TEXT,
    mode                TEXT NOT NULL DEFAULT 'direct' CHECK (mode IN ('direct', 'separated')),
    entry               TEXT NOT NULL DEFAULT 'window' CHECK (entry IN ('window', 'virtual')),
    receiving_org_id    BIGINT REFERENCES orgs (id),
    forwarded_at        BIGINT,
    forwarded_by        BIGINT REFERENCES users (id),
    forward_note        TEXT
);

INSERT INTO cases_0018 (id, case_no, org_id, resident_id, item_code, item_name, sub_item_code,
    sub_item_name, version_id, case_type, promised_days, channel, state, prev_state, version,
    applicant_mask, applicant_id_mask, applicant_id_bidx, form_enc, sources_enc,
    prefill_errors_enc, prereview, prereview_at, override, accepted_at, accepted_by,
    promised_date, correction, paused_at, paused_day, paused_days, result, result_opinion,
    cert_no, completed_at, closed_reason, closed_at, parent_id, created_by, created_at,
    updated_at, dept_case_no, delivered_at, delivery_run_id, delivery_reported,
    receiving_org_id)
SELECT id, case_no, org_id, resident_id, item_code, item_name, sub_item_code,
    sub_item_name, version_id, case_type, promised_days, channel, state, prev_state, version,
    applicant_mask, applicant_id_mask, applicant_id_bidx, form_enc, sources_enc,
    prefill_errors_enc, prereview, prereview_at, override, accepted_at, accepted_by,
    promised_date, correction, paused_at, paused_day, paused_days, result, result_opinion,
    cert_no, completed_at, closed_reason, closed_at, parent_id, created_by, created_at,
    updated_at, dept_case_no, delivered_at, delivery_run_id, delivery_reported, org_id
FROM cases;

DROP TABLE cases;
ALTER TABLE cases_0018 RENAME TO cases;

CREATE INDEX cases_org_created ON cases (org_id, created_at);
CREATE INDEX cases_org_state ON cases (org_id, state, created_at);
CREATE INDEX cases_created_by ON cases (created_by, created_at);
CREATE INDEX cases_resident_sub ON cases (resident_id, sub_item_code, state);
CREATE INDEX cases_applicant_bidx ON cases (applicant_id_bidx);
CREATE INDEX cases_promised ON cases (state, promised_date);
CREATE INDEX cases_receiving ON cases (receiving_org_id, state, created_at);
