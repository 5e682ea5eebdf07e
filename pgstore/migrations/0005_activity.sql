-- giftkit schema, version 5: the operator's activity log (see package
-- activity), value classes, clawbacks and adjustments.

-- Cards keep their value class (giftkit.ValueClass: 1 purchased,
-- 2 promotional, 3 refund, 4 adjustment; cards issued before this version
-- were sold, so purchased), what clawbacks took back of a redeemed card's
-- value (NULL until the first clawback: the card's ClawedBack is then
-- giftkit.Money{}, without a currency), and the head of their chain of
-- activity records (0 and 32 zero bytes: no record yet).
ALTER TABLE giftkit_cards
    ADD COLUMN class        smallint NOT NULL DEFAULT 1 CHECK (class BETWEEN 0 AND 255),
    ADD COLUMN clawed_back  bigint   CHECK (clawed_back >= 0),
    ADD COLUMN head_seq     bigint   NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
    ADD COLUMN head_digest  bytea    NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
                                     CHECK (length(head_digest) = 32);

-- Times keep microseconds (timestamptz); cards and accounts also keep the
-- nanoseconds below the microsecond, 0 to 999, beside each time, so that
-- they read back exactly as the services wrote them and as their activity
-- records' snapshots keep them. Rows written before this version had their
-- times rounded to the microsecond already.
ALTER TABLE giftkit_cards
    ADD COLUMN issued_at_ns     smallint NOT NULL DEFAULT 0 CHECK (issued_at_ns BETWEEN 0 AND 999),
    ADD COLUMN activated_at_ns  smallint NOT NULL DEFAULT 0 CHECK (activated_at_ns BETWEEN 0 AND 999),
    ADD COLUMN expires_at_ns    smallint NOT NULL DEFAULT 0 CHECK (expires_at_ns BETWEEN 0 AND 999),
    ADD COLUMN redeemed_at_ns   smallint NOT NULL DEFAULT 0 CHECK (redeemed_at_ns BETWEEN 0 AND 999),
    ADD COLUMN updated_at_ns    smallint NOT NULL DEFAULT 0 CHECK (updated_at_ns BETWEEN 0 AND 999);

-- Redeemed and voided are still final, but a clawback of a redeemed card
-- records on the card what it took back, and every change moves the card's
-- head: on a final card only clawed_back, updated_at (with updated_at_ns)
-- and the head may change. Every other column, those added later included,
-- must stay as it is, so a card still cannot be redeemed twice, revived, or
-- change value, owner or redemption time.
CREATE OR REPLACE FUNCTION giftkit_cards_final() RETURNS trigger AS $$
BEGIN
    IF OLD.state IN ('redeemed', 'voided') THEN
        IF to_jsonb(NEW) - '{clawed_back,updated_at,updated_at_ns,head_seq,head_digest}'::text[]
               IS DISTINCT FROM to_jsonb(OLD) - '{clawed_back,updated_at,updated_at_ns,head_seq,head_digest}'::text[] THEN
            RAISE EXCEPTION 'card % is %, which is final: only what clawbacks took back and its activity head may change',
                OLD.id, OLD.state USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

-- Accounts keep the head of their chain. (Lots, in the lots column's JSON,
-- gain a "class" member; lots written before this version have none and
-- read as purchased.)
ALTER TABLE giftkit_accounts
    ADD COLUMN updated_at_ns  smallint NOT NULL DEFAULT 0 CHECK (updated_at_ns BETWEEN 0 AND 999),
    ADD COLUMN head_seq     bigint NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
    ADD COLUMN head_digest  bytea  NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
                                   CHECK (length(head_digest) = 32);

-- Two new kinds of journal entry.
ALTER TABLE giftkit_entries DROP CONSTRAINT giftkit_entries_kind_check;
ALTER TABLE giftkit_entries ADD CONSTRAINT giftkit_entries_kind_check
    CHECK (kind IN ('credit', 'hold', 'release', 'capture', 'refund', 'expiry', 'adjustment', 'clawback'));

-- The activity log: one row per record, the record whole in its binary
-- form (activity.Record.AppendBinary) in "record", beside the columns that
-- queries filter and order on, copied out of it. Times are nanoseconds since
-- the Unix epoch, not timestamptz, which keeps microseconds: records are
-- ordered by their exact time. Subject IDs and currency codes compare byte
-- by byte (COLLATE "C"), as Go compares strings, so that the database's
-- order is activity.Subject.Compare's. A card's currency is ''.
--
-- Each subject's chain is numbered 1, 2, 3, ... without gaps or repeats,
-- and the database holds it so: the primary key refuses a second record
-- with a number, and the foreign key from each record but the first to the
-- record before it (prev_seq, computed from seq) refuses a gap.
CREATE TABLE giftkit_activity (
    subject_kind  smallint NOT NULL CHECK (subject_kind > 0),
    subject_id    text     COLLATE "C" NOT NULL,
    currency      text     COLLATE "C" NOT NULL,
    seq           bigint   NOT NULL CHECK (seq >= 1),
    prev_seq      bigint   GENERATED ALWAYS AS (nullif(seq - 1, 0)) STORED,
    at_ns         bigint   NOT NULL,
    actor_kind    smallint NOT NULL,
    actor_id      text     COLLATE "C" NOT NULL,
    record        bytea    NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, currency, seq),
    CONSTRAINT giftkit_activity_follows FOREIGN KEY (subject_kind, subject_id, currency, prev_seq)
        REFERENCES giftkit_activity (subject_kind, subject_id, currency, seq)
);

-- activity.ByTime: a support desk's timeline, and the records of a period.
CREATE INDEX giftkit_activity_by_time ON giftkit_activity (at_ns, subject_kind, subject_id, currency, seq);

-- One actor's records, in time order: what an operator did.
CREATE INDEX giftkit_activity_by_actor ON giftkit_activity
    (actor_kind, actor_id, at_ns, subject_kind, subject_id, currency, seq);

-- Records are never changed or removed: the database refuses UPDATE,
-- DELETE and TRUNCATE, whoever asks. (DROP TABLE is the owner's, and a
-- chain's head on its card or account tells that records are missing: see
-- activity.Verify.)
CREATE FUNCTION giftkit_activity_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'giftkit_activity is append-only: % refused', TG_OP USING ERRCODE = 'check_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER giftkit_activity_append_only BEFORE UPDATE OR DELETE ON giftkit_activity
    FOR EACH ROW EXECUTE FUNCTION giftkit_activity_append_only();

CREATE TRIGGER giftkit_activity_no_truncate BEFORE TRUNCATE ON giftkit_activity
    FOR EACH STATEMENT EXECUTE FUNCTION giftkit_activity_append_only();
