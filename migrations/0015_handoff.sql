-- 0015_handoff: delivery of accepted cases to the departments (src/cases/cases_handoff.c,
-- docs/handoff.md).
--
-- The delivery itself is the outbox event of kind case.handoff with the idempotency key
-- "submit:<case_no>" (its status, attempts and last error are the delivery's); the case keeps
-- what the department answered once the submit flow succeeded. delivered_at is the marker of
-- exactly-once recording: it is set by one guarded UPDATE (... WHERE delivered_at IS NULL), so
-- a redelivered event never records or transitions twice.
ALTER TABLE cases ADD COLUMN dept_case_no TEXT;
ALTER TABLE cases ADD COLUMN delivered_at BIGINT;
-- gateway_runs.id of the run that delivered the case (the operator's way into the run record)
ALTER TABLE cases ADD COLUMN delivery_run_id BIGINT;
-- outcome of the flow's 办件库 report step as the flow answered it ("ok", "error", ...), NULL
-- when the flow does not say
ALTER TABLE cases ADD COLUMN delivery_reported TEXT;
