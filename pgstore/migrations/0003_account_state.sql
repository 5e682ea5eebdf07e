-- giftkit schema, version 3. An account's version was always next_seq - 1:
-- the journal's sequence numbers order its changes, so the column goes.
-- Payments are stored as pgstore's own row (amounts in minor units, the
-- currency's minor units in the row), not as the domain type's JSON; rows
-- written by version 2 are not converted (no release used them).

ALTER TABLE giftkit_accounts DROP COLUMN version;
