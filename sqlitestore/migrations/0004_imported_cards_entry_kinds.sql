-- giftkit schema for SQLite, version 4: imported cards and cards' tags, and
-- three more kinds of journal entry.
--
-- Rows written by version 3 read as they did: their cards were issued here
-- (not imported) without tags, and the journal keeps every entry.

-- Cards: whether the card is another programme's, imported (its code is
-- that programme's, hashed by giftcard.Hasher.HashExternal), 0 or 1, and
-- the labels its issuance gave it, joined by commas ('' for none).
ALTER TABLE giftkit_cards ADD COLUMN imported INTEGER NOT NULL DEFAULT 0 CHECK (imported IN (0, 1));
ALTER TABLE giftkit_cards ADD COLUMN tags TEXT NOT NULL DEFAULT '';

-- A final card keeps them too: the trigger of version 2 names the columns
-- a clawback must leave as they are, so it is made again with the two new
-- ones among them. Everything else about it is as version 2 made it.
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
    AND NEW.class IS OLD.class AND NEW.imported IS OLD.imported AND NEW.tags IS OLD.tags)
BEGIN
    SELECT RAISE(ABORT, 'giftkit: a redeemed or voided card is final (a clawback may only add to a redeemed card''s clawed_back)');
END;

-- The journal allows three more kinds: a load (value bought onto a card or
-- an account), a transfer (value moved in or out) and a fee (a dormancy fee
-- the programme allows, charged). As in version 2, the table is copied into
-- one with the new CHECK, and its triggers, which DROP TABLE removes with
-- it, are made again exactly as version 2 made them (version 3 added
-- nothing to the journal; it has no index but its primary key). The copy
-- keeps every entry; DROP TABLE fires no trigger, and no table refers to
-- the journal.
CREATE TABLE giftkit_entries_v4 (
    owner            TEXT    NOT NULL,
    currency         TEXT    NOT NULL,
    seq              INTEGER NOT NULL CHECK (seq >= 1),
    kind             TEXT    NOT NULL CHECK (kind IN ('credit', 'hold', 'release', 'capture', 'refund', 'expiry',
                                                      'adjustment', 'clawback', 'load', 'transfer', 'fee')),
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
INSERT INTO giftkit_entries_v4 (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
    SELECT owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at FROM giftkit_entries;
DROP TABLE giftkit_entries;
ALTER TABLE giftkit_entries_v4 RENAME TO giftkit_entries;

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
