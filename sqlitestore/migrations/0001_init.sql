-- giftkit schema for SQLite, version 1.
--
-- Amounts are INTEGER counts of minor units, next to their currency's code
-- and minor units: never REAL. Times are INTEGER nanoseconds since the Unix
-- epoch, UTC (the years 1678 to 2262), and NULL for the zero time, so that
-- every time round-trips to the nanosecond. Tables are STRICT: a value of the
-- wrong type is refused, not converted.

CREATE TABLE giftkit_cards (
    id            TEXT    PRIMARY KEY,
    hash          BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    suffix        TEXT    NOT NULL,
    currency      TEXT    NOT NULL CHECK (length(currency) = 3),
    minor_units   INTEGER NOT NULL CHECK (minor_units BETWEEN 0 AND 8),
    value         INTEGER NOT NULL CHECK (value > 0),
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'redeemed', 'blocked', 'voided')),
    batch_id      TEXT    NOT NULL,
    issued_at     INTEGER NOT NULL,
    activated_at  INTEGER,
    expires_at    INTEGER,
    redeemed_by   TEXT,
    redeemed_at   INTEGER,
    updated_at    INTEGER NOT NULL,
    CHECK ((state = 'redeemed') = (redeemed_by IS NOT NULL AND redeemed_at IS NOT NULL))
) STRICT, WITHOUT ROWID;

-- Redeemed and voided are final: the database refuses to change such a card,
-- so a card cannot be redeemed twice even by a unit of work that forgot to
-- read it first.
CREATE TRIGGER giftkit_cards_final BEFORE UPDATE ON giftkit_cards
WHEN OLD.state IN ('redeemed', 'voided')
BEGIN
    SELECT RAISE(ABORT, 'giftkit: a redeemed or voided card is final');
END;

-- One account per owner and currency code. lots and holds are JSON of plain
-- integers (see tx.go); balance and held are their sums, kept as columns so
-- that the database itself refuses a negative balance or more held than
-- there is.
CREATE TABLE giftkit_accounts (
    owner        TEXT    NOT NULL,
    currency     TEXT    NOT NULL CHECK (length(currency) = 3),
    minor_units  INTEGER NOT NULL CHECK (minor_units BETWEEN 0 AND 8),
    balance      INTEGER NOT NULL CHECK (balance >= 0),
    held         INTEGER NOT NULL CHECK (held >= 0 AND held <= balance),
    next_seq     INTEGER NOT NULL CHECK (next_seq >= 1),
    lots         TEXT    NOT NULL,
    holds        TEXT    NOT NULL,
    updated_at   INTEGER,
    PRIMARY KEY (owner, currency)
) STRICT, WITHOUT ROWID;

-- The journal: append-only, one entry per sequence number of an account.
CREATE TABLE giftkit_entries (
    owner            TEXT    NOT NULL,
    currency         TEXT    NOT NULL,
    seq              INTEGER NOT NULL CHECK (seq >= 1),
    kind             TEXT    NOT NULL CHECK (kind IN ('credit', 'hold', 'release', 'capture', 'refund', 'expiry')),
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

-- Entries are never changed or removed.
CREATE TRIGGER giftkit_entries_no_update BEFORE UPDATE ON giftkit_entries
BEGIN
    SELECT RAISE(ABORT, 'giftkit: journal entries are never changed');
END;
CREATE TRIGGER giftkit_entries_no_delete BEFORE DELETE ON giftkit_entries
BEGIN
    SELECT RAISE(ABORT, 'giftkit: journal entries are never removed');
END;

CREATE TABLE giftkit_idempotency (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    outcome      BLOB    NOT NULL,
    created_at   INTEGER,
    PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;

-- A payment is kept as sqlitestore's own JSON row (payment.go), with the
-- columns a query needs beside it.
CREATE TABLE giftkit_payments (
    id          TEXT    PRIMARY KEY,
    owner       TEXT    NOT NULL,
    currency    TEXT    NOT NULL CHECK (length(currency) = 3),
    total       INTEGER NOT NULL CHECK (total > 0),
    state       TEXT    NOT NULL,
    needs_work  INTEGER NOT NULL CHECK (needs_work IN (0, 1)),
    data        TEXT    NOT NULL,
    updated_at  INTEGER
) STRICT;

-- Sweep looks only at payments with a step outstanding.
CREATE INDEX giftkit_payments_open ON giftkit_payments (id) WHERE needs_work = 1;

-- The attempt logs of wallet.StoreLimiter, one row per subject. The subject
-- is a BLOB: it is any string, NUL included. attempts is a JSON array of
-- nanosecond times. A log with nothing in it is deleted, never stored.
-- updated_at is the database's clock, for clean-up: a subject that failed
-- and never came back keeps its row until something like
--   DELETE FROM giftkit_attempt_logs WHERE updated_at < (unixepoch() - 86400) * 1000000000
-- (a day longer than the limiter's window and lockout) removes it.
CREATE TABLE giftkit_attempt_logs (
    subject       BLOB    PRIMARY KEY,
    attempts      TEXT    NOT NULL,
    locked_until  INTEGER,
    updated_at    INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000000 AS INTEGER)),
    CHECK (attempts <> '[]' OR locked_until IS NOT NULL)
) STRICT, WITHOUT ROWID;
