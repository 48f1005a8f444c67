-- 0017_sign (SQLite): electronic signatures of the application form (src/sign/,
-- docs/sign.md). 0017_sign.pg.sql is the same for PostgreSQL; keep the two in step.
--
-- The application form joins the case's materials (slot application_form): the round's
-- unsigned PDF (source generated) and the sealed PDF (source e_sign) are entries the server
-- makes, next to the clerk's scans of a paper-signed form. SQLite cannot change a CHECK
-- constraint, so case_materials is rebuilt (nothing references it).
-- shouli: foreign_keys=off
CREATE TABLE case_materials_new (
    id             {{ID}},
    case_id        BIGINT NOT NULL REFERENCES cases (id),
    material_id    TEXT NOT NULL,
    file_id        BIGINT NOT NULL REFERENCES files (id),
    source         TEXT NOT NULL CHECK (source IN ('scan', 'upload', 'kiosk_photo', 'e_cert',
                                                   'generated', 'e_sign')),
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
INSERT INTO case_materials_new (id, case_id, material_id, file_id, source, title, e_cert_no,
    verdict, reasons, verified_at, verified_by, added_by, added_by_name, added_at)
SELECT id, case_id, material_id, file_id, source, title, e_cert_no, verdict, reasons,
    verified_at, verified_by, added_by, added_by_name, added_at FROM case_materials;
DROP TABLE case_materials;
ALTER TABLE case_materials_new RENAME TO case_materials;
CREATE INDEX case_materials_case ON case_materials (case_id, material_id, id);
CREATE INDEX case_materials_file ON case_materials (file_id);

-- The public half of every seal key a centre has used (keys/seal-<org code>.pem in the data
-- directory of the node that made it). Verification uses the key recorded here, so a seal
-- made on another node, or before a key was replaced, still verifies. key_id = hex of the
-- first 16 bytes of SM3(public point 04||X||Y); public_key = hex of that point.
CREATE TABLE seal_keys (
    id          {{ID}},
    org_id      BIGINT NOT NULL REFERENCES orgs (id),
    key_id      TEXT NOT NULL UNIQUE,
    public_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A signing round of a case's application form (docs/sign.md). form_sm3: SM3 of the
-- canonical form data (compact JSON, keys sorted) the round was started for. base_file_id:
-- the unsigned PDF (its CreationDate is pdf_created_ms, so re-rendering with the signatures
-- gives the same document apart from them). Sealing sets final_file_id (the PDF with every
-- signature), seal_digest (hex SM3 of the sealed message), seal_signature (base64 DER SM2),
-- seal_key_id and sealed_at. At most one round of a case is not voided.
CREATE TABLE case_signings (
    id              {{ID}},
    case_id         BIGINT NOT NULL REFERENCES cases (id),
    round           INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'sealed', 'voided')),
    form_sm3        TEXT NOT NULL,
    base_file_id    BIGINT NOT NULL REFERENCES files (id),
    pdf_created_ms  BIGINT NOT NULL,
    final_file_id   BIGINT REFERENCES files (id),
    seal_digest     TEXT,
    seal_signature  TEXT,
    seal_key_id     TEXT,
    sealed_at       BIGINT,
    voided_reason   TEXT,
    voided_by       BIGINT REFERENCES users (id),
    voided_at       BIGINT,
    created_by      BIGINT NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (case_id, round)
);
CREATE UNIQUE INDEX case_signings_live ON case_signings (case_id) WHERE state <> 'voided';

-- One signature of a round, in plan order (seq from 1). The PNG is a file (png_file_id,
-- its SM3 in png_sm3); the signer's name and the pen strokes (JSON [[[x,y,t_ms],…],…]) are
-- sealed with the key ring (contexts sign.signer_name, sign.strokes); strokes_sm3 is the SM3
-- of the strokes' JSON text. commitments: JSON [{id, text, ticked_at}] the signer ticked.
CREATE TABLE case_signatures (
    id               {{ID}},
    signing_id       BIGINT NOT NULL REFERENCES case_signings (id),
    seq              INTEGER NOT NULL,
    role             TEXT NOT NULL,
    label            TEXT NOT NULL,
    signer_name_enc  {{BLOB}},
    png_file_id      BIGINT NOT NULL REFERENCES files (id),
    png_sm3          TEXT NOT NULL,
    strokes_enc      {{BLOB}} NOT NULL,
    strokes_sm3      TEXT NOT NULL,
    commitments      TEXT NOT NULL,
    device           TEXT NOT NULL CHECK (device IN ('window', 'kiosk', 'pad')),
    captured_by      BIGINT NOT NULL REFERENCES users (id),
    signed_at        BIGINT NOT NULL,
    UNIQUE (signing_id, seq),
    UNIQUE (signing_id, role)
);
