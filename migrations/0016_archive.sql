-- 0016_archive: the electronic archive of completed cases (src/archive/, docs/archive.md).
--
-- One row per archived case: asked for by POST /api/v1/cases/{no}/archive (later also on
-- completion), delivered by the outbox handler of archive.package, which builds the three
-- XML packages, validates them against archive/xsd/shouli-archive-v1.xsd and hands them to
-- the archive system through the flow dangan.package_submit. status:
--   pending   asked for, not yet received (building, transferring, or retrying: error says
--             why the last try failed)
--   received  the archive system took the packages: receipt_no and its checks
--   rejected  the archive system refused them (its checks say which package and why)
--   invalid   the packages could not be built or failed the XSD (error names the element)
-- A rejected or invalid case may be asked for again: attempt counts the requests, and an
-- outbox event carries the attempt it was made for (a stale event does nothing).
-- Sizes and SM3 digests are those of the last packages built (bytes of the XML documents).
CREATE TABLE archive_packages (
    id             {{ID}},
    case_id        BIGINT NOT NULL UNIQUE REFERENCES cases (id),
    case_no        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'received', 'rejected', 'invalid')),
    attempt        INTEGER NOT NULL DEFAULT 1,
    receipt_no     TEXT,
    checks         TEXT,
    error          TEXT,
    basic_size     BIGINT,
    process_size   BIGINT,
    files_size     BIGINT,
    basic_sm3      TEXT,
    process_sm3    TEXT,
    files_sm3      TEXT,
    steps          INTEGER,
    files          INTEGER,
    requested_by   BIGINT REFERENCES users (id),
    requested_at   BIGINT NOT NULL,
    received_at    BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX archive_packages_status ON archive_packages (status, updated_at);
