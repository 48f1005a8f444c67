-- 0013_files: the encrypted file store (src/files/) and the materials of a case
-- (src/cases/cases_materials.c); docs/cases.md "Files" and "Materials".
--
-- Blobs live outside the database, in a backend; a row here says which. New files go to the
-- default backend; an S3-compatible backend joins as a row (kind 's3', config its endpoint
-- and bucket) without moving the files already stored.
CREATE TABLE file_backends (
    id          {{ID}},
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('local', 's3')),
    -- JSON object: local {"root"?: directory, default <data dir>/files}; s3 {endpoint, bucket, …}
    config      TEXT NOT NULL DEFAULT '{}',
    is_default  INTEGER NOT NULL DEFAULT 0,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL
);
INSERT INTO file_backends (name, kind, config, is_default, enabled, created_at)
VALUES ('local', 'local', '{}', 1, 1, 0);

-- One row per distinct content: sm3 is the hex SM3 of the plaintext (so a second upload of
-- the same bytes finds this row). The blob's name in the backend is derived from sm3 with a
-- keyed hash and is not stored. ref_count counts the rows of other tables that name the file;
-- a file at 0 whose updated_at is older than a day is removed by the job files.gc.
CREATE TABLE files (
    id          {{ID}},
    sm3         TEXT NOT NULL UNIQUE,
    size        BIGINT NOT NULL CHECK (size >= 0),
    mime        TEXT NOT NULL,
    backend_id  BIGINT NOT NULL REFERENCES file_backends (id),
    ref_count   BIGINT NOT NULL DEFAULT 0 CHECK (ref_count >= 0),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX files_unreferenced ON files (ref_count, updated_at);

-- The files of a case's material slots. material_id is the MATERIAL id of the case's pinned
-- sub-item; one row per file (entry), holding one reference to it. source: scan (高拍仪),
-- upload (browser), kiosk_photo (PAD), e_cert (pulled from the certificate library: the
-- certificate JSON is the file, e_cert_no its number). verdict/reasons (JSON array of zh-CN
-- sentences) come from the big-data centre's material verification.
CREATE TABLE case_materials (
    id             {{ID}},
    case_id        BIGINT NOT NULL REFERENCES cases (id),
    material_id    TEXT NOT NULL,
    file_id        BIGINT NOT NULL REFERENCES files (id),
    source         TEXT NOT NULL CHECK (source IN ('scan', 'upload', 'kiosk_photo', 'e_cert')),
    title          TEXT,
    e_cert_no      TEXT,
    verdict        TEXT CHECK (verdict IS NULL OR verdict IN ('pass', 'fail', 'manual')),
    reasons        TEXT,
    verified_at    BIGINT,
    verified_by    BIGINT REFERENCES users (id),
    added_by       BIGINT NOT NULL REFERENCES users (id),
    added_by_name  TEXT NOT NULL,
    added_at       BIGINT NOT NULL
);
CREATE INDEX case_materials_case ON case_materials (case_id, material_id, id);
CREATE INDEX case_materials_file ON case_materials (file_id);
