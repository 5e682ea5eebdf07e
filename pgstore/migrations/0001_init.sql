-- giftkit schema, version 1. Amounts are bigint counts of minor units, next to
-- their currency code and its minor units: never float, never money.

CREATE TABLE giftkit_cards (
    id            text        PRIMARY KEY,
    hash          bytea       NOT NULL UNIQUE CHECK (length(hash) = 32),
    suffix        text        NOT NULL,
    currency      char(3)     NOT NULL,
    minor_units   smallint    NOT NULL CHECK (minor_units BETWEEN 0 AND 8),
    value         bigint      NOT NULL CHECK (value > 0),
    state         text        NOT NULL CHECK (state IN ('pending', 'active', 'redeemed', 'blocked', 'voided')),
    batch_id      text        NOT NULL,
    issued_at     timestamptz NOT NULL,
    activated_at  timestamptz,
    expires_at    timestamptz,
    redeemed_by   text,
    redeemed_at   timestamptz,
    updated_at    timestamptz NOT NULL,
    CHECK ((state = 'redeemed') = (redeemed_by IS NOT NULL AND redeemed_at IS NOT NULL))
);

CREATE TABLE giftkit_accounts (
    owner        text        NOT NULL,
    currency     char(3)     NOT NULL,
    minor_units  smallint    NOT NULL CHECK (minor_units BETWEEN 0 AND 8),
    balance      bigint      NOT NULL CHECK (balance >= 0),
    held         bigint      NOT NULL CHECK (held >= 0 AND held <= balance),
    next_seq     bigint      NOT NULL CHECK (next_seq >= 1),
    version      bigint      NOT NULL,
    lots         jsonb       NOT NULL,
    holds        jsonb       NOT NULL,
    updated_at   timestamptz,
    PRIMARY KEY (owner, currency)
);

CREATE TABLE giftkit_entries (
    owner            text        NOT NULL,
    currency         char(3)     NOT NULL,
    seq              bigint      NOT NULL CHECK (seq >= 1),
    kind             text        NOT NULL CHECK (kind IN ('credit', 'hold', 'release', 'capture', 'refund', 'expiry')),
    amount           bigint      NOT NULL,
    held             bigint      NOT NULL,
    balance_after    bigint      NOT NULL CHECK (balance_after >= 0),
    available_after  bigint      NOT NULL CHECK (available_after >= 0),
    reference        text        NOT NULL,
    key              text        NOT NULL,
    at               timestamptz NOT NULL,
    PRIMARY KEY (owner, currency, seq),
    FOREIGN KEY (owner, currency) REFERENCES giftkit_accounts (owner, currency)
);

CREATE TABLE giftkit_idempotency (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    fingerprint  text        NOT NULL,
    outcome      bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE giftkit_payments (
    id          text        PRIMARY KEY,
    owner       text        NOT NULL,
    currency    char(3)     NOT NULL,
    total       bigint      NOT NULL CHECK (total > 0),
    state       text        NOT NULL,
    needs_work  boolean     NOT NULL,
    data        jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Sweep looks only at payments with a step outstanding.
CREATE INDEX giftkit_payments_open ON giftkit_payments (id) WHERE needs_work;

-- Redeemed and voided are final: the database refuses to change such a card,
-- so a card cannot be redeemed twice even by a unit of work that forgot its
-- lock.
CREATE FUNCTION giftkit_cards_final() RETURNS trigger AS $$
BEGIN
    IF OLD.state IN ('redeemed', 'voided') THEN
        RAISE EXCEPTION 'card % is %, which is final', OLD.id, OLD.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER giftkit_cards_final BEFORE UPDATE ON giftkit_cards
    FOR EACH ROW EXECUTE FUNCTION giftkit_cards_final();
