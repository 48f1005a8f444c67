-- 0018_separated (PostgreSQL): 收受分离 — see 0018_separated.sqlite.sql for what the columns
-- mean. Here the state CHECK is replaced in place.
ALTER TABLE cases DROP CONSTRAINT cases_state_check;
ALTER TABLE cases ADD CONSTRAINT cases_state_check CHECK (state IN ('draft', 'forwarded',
    'accepted', 'in_progress', 'correction', 'completed', 'refused', 'withdrawn'));
ALTER TABLE cases ADD COLUMN mode TEXT NOT NULL DEFAULT 'direct'
    CHECK (mode IN ('direct', 'separated'));
ALTER TABLE cases ADD COLUMN entry TEXT NOT NULL DEFAULT 'window'
    CHECK (entry IN ('window', 'virtual'));
ALTER TABLE cases ADD COLUMN receiving_org_id BIGINT REFERENCES orgs (id);
ALTER TABLE cases ADD COLUMN forwarded_at BIGINT;
ALTER TABLE cases ADD COLUMN forwarded_by BIGINT REFERENCES users (id);
ALTER TABLE cases ADD COLUMN forward_note TEXT;
UPDATE cases SET receiving_org_id = org_id;
CREATE INDEX cases_receiving ON cases (receiving_org_id, state, created_at);
