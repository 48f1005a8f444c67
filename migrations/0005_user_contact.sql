-- 0005_user_contact: staff contact data, encrypted at rest (src/sensitive/).
--
-- *_enc holds the SM4-GCM blob of the normalised value (context "users.<field>"), *_bidx
-- the HMAC-SM3 blind index (purpose "bidx:users.<field>", 64 hex) for exact lookup. Both are
-- NULL when the value is not set. The ID number is not unique: one person may hold more
-- than one account (say, in two centres), and the index is there to find them all.
ALTER TABLE users ADD COLUMN phone_enc {{BLOB}};
ALTER TABLE users ADD COLUMN phone_bidx TEXT;
ALTER TABLE users ADD COLUMN id_number_enc {{BLOB}};
ALTER TABLE users ADD COLUMN id_number_bidx TEXT;
CREATE INDEX users_phone_bidx ON users (phone_bidx);
CREATE INDEX users_id_number_bidx ON users (id_number_bidx);
