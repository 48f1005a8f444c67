-- 0011_ident: residents, their relations and every read of an identity document (src/ident/).
--
-- Personal data is sealed (src/sensitive/): *_enc holds the SM4-GCM blob of the normalised
-- value under the column name "residents.<field>" (or "ident_reads.card"), *_bidx its HMAC-SM3
-- blind index for exact lookup. Nothing here holds a number, a name or an address in clear.

-- A resident is keyed by the number of their identity document (111, HMT, PR2023, PR2017; a
-- social security card or a residence permit resolves to the holder's document). The blind
-- index of the number is unique per type. address_enc seals the catalog `address` value as
-- JSON text; hukou_address_enc the address printed on the card. photo_file_id names the card
-- photo in the file store (no foreign key: the file store's tables come later and hold a
-- reference count for it). version is the optimistic counter of edits.
CREATE TABLE residents (
    id                  {{ID}},
    id_type             TEXT NOT NULL CHECK (id_type IN ('111', 'HMT', 'PR2023', 'PR2017')),
    id_number_enc       {{BLOB}} NOT NULL,
    id_number_bidx      TEXT NOT NULL,
    name_enc            {{BLOB}} NOT NULL,
    sex                 TEXT CHECK (sex IN ('1', '2')),
    birth_date          TEXT,
    nation              TEXT,
    nationality         TEXT,
    phone_enc           {{BLOB}},
    phone_bidx          TEXT,
    address_enc         {{BLOB}},
    hukou_address_enc   {{BLOB}},
    card_valid_to       TEXT,
    photo_file_id       BIGINT,
    source              TEXT NOT NULL CHECK (source IN ('card', 'manual', 'evoucher', 'case')),
    last_seen_at        BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    version             BIGINT NOT NULL DEFAULT 1,
    UNIQUE (id_type, id_number_bidx)
);
CREATE INDEX residents_phone_bidx ON residents (phone_bidx);

-- "related_id is the <relation> (code table `relation`) of resident_id, acting as <kind>".
-- One row per pair and kind; valid_to (YYYY-MM-DD, inclusive) bounds an agency or a
-- guardianship that ends.
CREATE TABLE resident_relations (
    id              {{ID}},
    resident_id     BIGINT NOT NULL REFERENCES residents (id),
    related_id      BIGINT NOT NULL REFERENCES residents (id),
    relation        TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('guardian', 'agent', 'family')),
    valid_to        TEXT,
    created_by      BIGINT,
    created_at      BIGINT NOT NULL,
    CHECK (resident_id <> related_id),
    UNIQUE (resident_id, related_id, kind)
);
CREATE INDEX resident_relations_related ON resident_relations (related_id);

-- Every card read, manual entry and e-voucher resolution: who read what where. card_enc
-- seals the payload as read (JSON, without the photo, context "ident_reads.card"); the
-- photo is in the file store (photo_file_id) or, where none was given, absent.
CREATE TABLE ident_reads (
    id              {{ID}},
    resident_id     BIGINT NOT NULL REFERENCES residents (id),
    method          TEXT NOT NULL CHECK (method IN ('card', 'manual', 'evoucher')),
    id_type         TEXT NOT NULL,
    reader          TEXT,
    type_flag       TEXT,
    card_enc        {{BLOB}},
    photo_file_id   BIGINT,
    reason          TEXT,
    clerk_id        BIGINT,
    org_id          BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX ident_reads_resident ON ident_reads (resident_id, id);
