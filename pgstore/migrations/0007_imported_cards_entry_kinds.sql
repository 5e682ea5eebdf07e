-- giftkit schema, version 7: imported cards and cards' tags, and three more
-- kinds of journal entry.

-- Cards: whether the card is another programme's, imported (its code is
-- that programme's, hashed by giftcard.Hasher.HashExternal), and the labels
-- its issuance gave it, joined by commas ('' for none). Cards written
-- before this version were issued here, untagged. On a redeemed or voided
-- card neither may change: giftkit_cards_final (0005) compares every column
-- but a clawback's.
ALTER TABLE giftkit_cards
    ADD COLUMN imported  boolean NOT NULL DEFAULT false,
    ADD COLUMN tags      text    NOT NULL DEFAULT '';

-- The journal allows three more kinds: a load (value bought onto a card or
-- an account), a transfer (value moved in or out) and a fee (a dormancy fee
-- the programme allows, charged).
ALTER TABLE giftkit_entries DROP CONSTRAINT giftkit_entries_kind_check;
ALTER TABLE giftkit_entries ADD CONSTRAINT giftkit_entries_kind_check
    CHECK (kind IN ('credit', 'hold', 'release', 'capture', 'refund', 'expiry', 'adjustment', 'clawback',
                    'load', 'transfer', 'fee'));
