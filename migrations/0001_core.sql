-- 0001_core: process-level tables of the platform.

-- Data keys (SM4), wrapped under the master key; the newest active one encrypts new data,
-- every one decrypts what it encrypted (rotation keeps old rows readable).
CREATE TABLE data_keys (
    id          BIGINT PRIMARY KEY,
    wrapped     {{BLOB}} NOT NULL,
    active      INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

-- Small key/value facts about this installation (e.g. when demo data was created).
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
