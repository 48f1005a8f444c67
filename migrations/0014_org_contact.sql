-- 0014_org_contact: how residents reach an organisation (a centre's 咨询电话 and address,
-- printed on receipts and notices). Public information, not personal data.
ALTER TABLE orgs ADD COLUMN phone TEXT;
ALTER TABLE orgs ADD COLUMN address TEXT;
