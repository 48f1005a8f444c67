-- 0024_vwin_case: the virtual-window origin of a case (issue 7, seed rows 6–7; docs/cases.md
-- "收受分离", docs/vwin.md "收受分离 from the virtual window").
--
-- A case opened inside a video session (POST /api/v1/vwin/sessions/{id}/case with
-- sub_item_code) records the session, the extension or 上门办 point and the point's kind, so
-- that statistics count virtual-window 收受分离 and 上门办 cases without joining sessions.
-- NULL for every case opened at a window.

ALTER TABLE cases ADD COLUMN vwin_session_id BIGINT;
ALTER TABLE cases ADD COLUMN vwin_point TEXT;
ALTER TABLE cases ADD COLUMN vwin_point_kind TEXT CHECK (vwin_point_kind IN ('extension', 'home'));

CREATE INDEX cases_vwin_point ON cases (vwin_point, vwin_point_kind) WHERE vwin_point IS NOT NULL;
