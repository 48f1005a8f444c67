-- 0002_auth: organisations, users, roles, permissions, sessions (src/auth/).
--
-- Organisations form a tree; path is the materialised path of ids ('/1/3/12/'), so "this
-- organisation and everything below it" (a user's data scope) is `path LIKE '/1/3/%'`.
CREATE TABLE orgs (
    id          {{ID}},
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('city', 'district', 'street', 'centre')),
    parent_id   BIGINT REFERENCES orgs (id),
    path        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX orgs_parent ON orgs (parent_id);
CREATE INDEX orgs_path ON orgs (path);

-- Accounts. locked_until is 0 when not locked; password_changed_at drives expiry;
-- must_change forces a change at the next login (initial and reset passwords).
CREATE TABLE users (
    id                   {{ID}},
    username             TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    org_id               BIGINT NOT NULL REFERENCES orgs (id),
    status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    failed_count         INTEGER NOT NULL DEFAULT 0,
    locked_until         BIGINT NOT NULL DEFAULT 0,
    password_hash        TEXT NOT NULL,
    password_changed_at  BIGINT NOT NULL,
    must_change          INTEGER NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    version              INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX users_org ON users (org_id);

-- The last few password hashes of each user (current one included), for "no reuse".
CREATE TABLE password_history (
    id             {{ID}},
    user_id        BIGINT NOT NULL REFERENCES users (id),
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, id);

CREATE TABLE permissions (
    code         TEXT PRIMARY KEY,
    description  TEXT NOT NULL
);

-- Access-control rows carry mac = HMAC-SM3 under a key derived from the master key for
-- "row:<table>" over the row's canonical bytes (GB/T 39786-2021 §8.4): a row changed in the
-- database without the key no longer grants anything.
CREATE TABLE roles (
    id          {{ID}},
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    builtin     INTEGER NOT NULL DEFAULT 0,
    mac         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE role_perms (
    role_id  BIGINT NOT NULL REFERENCES roles (id),
    perm     TEXT NOT NULL REFERENCES permissions (code),
    mac      TEXT NOT NULL,
    PRIMARY KEY (role_id, perm)
);

CREATE TABLE user_roles (
    user_id  BIGINT NOT NULL REFERENCES users (id),
    role_id  BIGINT NOT NULL REFERENCES roles (id),
    mac      TEXT NOT NULL,
    PRIMARY KEY (user_id, role_id)
);

-- Sessions: only SM3(token) is stored, so a copy of the database opens no session.
CREATE TABLE sessions (
    id          {{ID}},
    token_hash  TEXT NOT NULL UNIQUE,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    client_ip   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen);
CREATE INDEX sessions_created ON sessions (created_at);
