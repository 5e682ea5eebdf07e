-- giftkit schema for SQLite, version 2: the operator's activity log, value
-- classes, clawbacks and the heads of the activity chains.
--
-- Rows written by version 1 read as they did: their cards and lots are of
-- the purchased class, nothing was clawed back, and no chain has started
-- (head 0, a digest of 32 zero bytes).

-- Cards: where their value comes from, what clawbacks asked back of a
-- redeemed card's value (NULL until the first: giftkit.Money{}), and the
-- end of the card's chain of activity records.
ALTER TABLE giftkit_cards ADD COLUMN class TEXT NOT NULL DEFAULT 'purchased'
    CHECK (class IN ('purchased', 'promotional', 'refund', 'adjustment'));
ALTER TABLE giftkit_cards ADD COLUMN clawed_back INTEGER CHECK (clawed_back BETWEEN 0 AND value);
ALTER TABLE giftkit_cards ADD COLUMN head_seq INTEGER NOT NULL DEFAULT 0 CHECK (head_seq >= 0);
ALTER TABLE giftkit_cards ADD COLUMN head_digest BLOB NOT NULL
    DEFAULT X'0000000000000000000000000000000000000000000000000000000000000000'
    CHECK (length(head_digest) = 32);

-- Redeemed and voided are still final, with one exception: a clawback of a
-- redeemed card (its purchase refunded after it was redeemed) adds to
-- clawed_back, and moves updated_at and the head with it. Everything else
-- of a final card stays as it was, and a voided card does not change at
-- all. Every term is NOT NULL or compared with IS, so the condition is
-- never NULL (a NULL WHEN would let the update through).
DROP TRIGGER giftkit_cards_final;
CREATE TRIGGER giftkit_cards_final BEFORE UPDATE ON giftkit_cards
WHEN OLD.state IN ('redeemed', 'voided') AND NOT (
    OLD.state = 'redeemed'
    AND coalesce(NEW.clawed_back, 0) > coalesce(OLD.clawed_back, 0)
    AND NEW.id IS OLD.id AND NEW.hash IS OLD.hash AND NEW.suffix IS OLD.suffix
    AND NEW.currency IS OLD.currency AND NEW.minor_units IS OLD.minor_units AND NEW.value IS OLD.value
    AND NEW.state IS OLD.state AND NEW.batch_id IS OLD.batch_id AND NEW.issued_at IS OLD.issued_at
    AND NEW.activated_at IS OLD.activated_at AND NEW.expires_at IS OLD.expires_at
    AND NEW.redeemed_by IS OLD.redeemed_by AND NEW.redeemed_at IS OLD.redeemed_at
    AND NEW.class IS OLD.class)
BEGIN
    SELECT RAISE(ABORT, 'giftkit: a redeemed or voided card is final (a clawback may only add to a redeemed card''s clawed_back)');
END;

-- Accounts: the end of the account's chain of activity records. (The lots'
-- JSON gains a "class"; a lot without one is of the purchased class.)
ALTER TABLE giftkit_accounts ADD COLUMN head_seq INTEGER NOT NULL DEFAULT 0 CHECK (head_seq >= 0);
ALTER TABLE giftkit_accounts ADD COLUMN head_digest BLOB NOT NULL
    DEFAULT X'0000000000000000000000000000000000000000000000000000000000000000'
    CHECK (length(head_digest) = 32);

-- The journal allows two more kinds: an operator's adjustment (up or down)
-- and a clawback. SQLite cannot change a CHECK in place: the table is
-- copied into one with the new CHECK, and the append-only triggers made
-- again, with one more that version 1 lacked. The copy keeps every entry; DROP TABLE fires no trigger, and no
-- table refers to the journal.
CREATE TABLE giftkit_entries_v2 (
    owner            TEXT    NOT NULL,
    currency         TEXT    NOT NULL,
    seq              INTEGER NOT NULL CHECK (seq >= 1),
    kind             TEXT    NOT NULL CHECK (kind IN ('credit', 'hold', 'release', 'capture', 'refund', 'expiry',
                                                      'adjustment', 'clawback')),
    amount           INTEGER NOT NULL,
    held             INTEGER NOT NULL,
    balance_after    INTEGER NOT NULL CHECK (balance_after >= 0),
    available_after  INTEGER NOT NULL CHECK (available_after >= 0),
    reference        TEXT    NOT NULL,
    key              TEXT    NOT NULL,
    at               INTEGER NOT NULL,
    PRIMARY KEY (owner, currency, seq),
    FOREIGN KEY (owner, currency) REFERENCES giftkit_accounts (owner, currency)
) STRICT, WITHOUT ROWID;
INSERT INTO giftkit_entries_v2 (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
    SELECT owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at FROM giftkit_entries;
DROP TABLE giftkit_entries;
ALTER TABLE giftkit_entries_v2 RENAME TO giftkit_entries;

CREATE TRIGGER giftkit_entries_no_update BEFORE UPDATE ON giftkit_entries
BEGIN
    SELECT RAISE(ABORT, 'giftkit: journal entries are never changed');
END;
CREATE TRIGGER giftkit_entries_no_delete BEFORE DELETE ON giftkit_entries
BEGIN
    SELECT RAISE(ABORT, 'giftkit: journal entries are never removed');
END;
-- INSERT OR REPLACE deletes the row it replaces without firing DELETE
-- triggers (unless recursive_triggers is on): an insert of an entry that
-- exists is refused before it gets there.
CREATE TRIGGER giftkit_entries_no_replace BEFORE INSERT ON giftkit_entries
WHEN EXISTS (SELECT 1 FROM giftkit_entries WHERE owner = NEW.owner AND currency = NEW.currency AND seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'giftkit: journal entries are never replaced');
END;

-- The activity log (package activity): every change to a card or an
-- account, one row per record, numbered 1, 2, 3, ... within its subject.
-- record is the whole record in its binary form (activity.Record's
-- AppendBinary), digests included: what is read back. The other columns
-- are copies of its fields for the queries:
--   subject_kind  1 for a card, 2 for an account (activity.SubjectKind), so
--                 that the key sorts as activity.BySubject does: cards first
--   subject_id    the card's ID or the account's owner
--   currency      the account's currency code; '' for a card
--   at_ns         the record's time, in nanoseconds since the Unix epoch (UTC)
--   actor_kind    'shopper', 'operator', 'client', 'system', or
--                 'unattributed' (with actor_id '') when the host named none
-- Text compares as bytes (the BINARY collation), as Go compares strings.
CREATE TABLE giftkit_activity (
    subject_kind  INTEGER NOT NULL CHECK (subject_kind IN (1, 2)),
    subject_id    TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    at_ns         INTEGER NOT NULL,
    actor_kind    TEXT    NOT NULL CHECK (actor_kind IN ('unattributed', 'shopper', 'operator', 'client', 'system')),
    actor_id      TEXT    NOT NULL,
    record        BLOB    NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, currency, seq),
    CHECK (CASE subject_kind WHEN 1 THEN currency = '' ELSE length(currency) = 3 END),
    CHECK ((actor_kind = 'unattributed') = (actor_id = ''))
) STRICT, WITHOUT ROWID;

-- activity.ByTime: time, then subject, then seq.
CREATE INDEX giftkit_activity_by_time ON giftkit_activity (at_ns, subject_kind, subject_id, currency, seq);

-- One actor's records, by time (and, sorted, by subject).
CREATE INDEX giftkit_activity_by_actor ON giftkit_activity (actor_kind, actor_id, at_ns, subject_kind, subject_id, currency, seq);

-- Records are never changed, removed or replaced (see the journal's
-- triggers above).
CREATE TRIGGER giftkit_activity_no_update BEFORE UPDATE ON giftkit_activity
BEGIN
    SELECT RAISE(ABORT, 'giftkit: activity records are never changed');
END;
CREATE TRIGGER giftkit_activity_no_delete BEFORE DELETE ON giftkit_activity
BEGIN
    SELECT RAISE(ABORT, 'giftkit: activity records are never removed');
END;
CREATE TRIGGER giftkit_activity_no_replace BEFORE INSERT ON giftkit_activity
WHEN EXISTS (SELECT 1 FROM giftkit_activity WHERE subject_kind = NEW.subject_kind AND subject_id = NEW.subject_id
    AND currency = NEW.currency AND seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'giftkit: activity records are never replaced');
END;
