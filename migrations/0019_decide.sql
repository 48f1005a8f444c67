-- 0019_decide: department decisions and the 办件库 stage reports (src/cases/cases_decide.c,
-- src/cases/cases_bjk.c, docs/handoff.md "Decisions" and "办件库 stages").
--
-- Decisions. A delivered case is polled through the flow <dept_system>.application_status by
-- the job cases.decisions. dept_system is the connector that took the application (read from
-- the delivering run); decision_check_at the next poll (NULL: not polled: not delivered, or
-- decided); decision_checks the polls so far (the backoff grows with it); decision_error the
-- last failed poll (no personal data: flow, run id, error code); dept_status the department's
-- last status as it said it.
ALTER TABLE cases ADD COLUMN dept_system TEXT;
ALTER TABLE cases ADD COLUMN decision_check_at BIGINT;
ALTER TABLE cases ADD COLUMN decision_checks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN decision_error TEXT;
ALTER TABLE cases ADD COLUMN dept_status TEXT;
CREATE INDEX cases_decision_due ON cases (decision_check_at);

-- 办件库 stage reports after acceptance: one row per reportable timeline row (case_events.id
-- = seq) — handle (start, correction, resume) and finish (complete, withdraw). The report
-- itself is an outbox event of kind bjk.report with the key "bjk:<case_no>:<seq>"; this row
-- is what the case shows. state: pending (not yet acknowledged; error = the last try's),
-- ok (the 办件库 took it), skipped (nothing to report: the case never reached the 办件库),
-- dead (refused for good or out of retries).
CREATE TABLE case_reports (
    id           {{ID}},
    case_id      BIGINT NOT NULL REFERENCES cases (id),
    seq          BIGINT NOT NULL,
    stage        TEXT NOT NULL CHECK (stage IN ('handle', 'finish')),
    action       TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'ok', 'skipped', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    reported_at  BIGINT,
    UNIQUE (case_id, seq)
);
