-- giftkit schema, version 6: the outbox of domain events (see package
-- outbox), its dead letters, and the deliveries of e-gift cards (see
-- package egift).

-- The outbox: one row per event, inserted by the unit of work that makes
-- the change. id is the order of insertion, from a sequence (an identity
-- column, whose values no one else chooses); pos is the order of commit,
-- NULL until the positioner (giftkit_outbox_position, below) gives the row
-- the next position after the unit has committed. Consumers read by pos.
--
-- The sequence must keep its CACHE of 1: values are then handed out in the
-- order sessions ask for them, so a unit that inserts after another unit
-- committed gets larger ids, which is what keeps each aggregate's events in
-- order (see giftkit_outbox_position).
--
-- Times are nanoseconds since the Unix epoch, as the activity log's; the
-- payload is kept as the bytes given (bytea, not jsonb, which would
-- reorder keys and change white space). The currency of an account's
-- events is its code and minor units; '' and 0 for cards and payments.
--
-- There is no primary key on id: every statement reaches rows through one
-- of the two partial indexes, and each index fewer is a write fewer for
-- every event. An event is inserted into one index (unpositioned, by id)
-- and, once positioned, into the other (by pos).
CREATE TABLE giftkit_outbox (
    id              bigint   GENERATED ALWAYS AS IDENTITY (CACHE 1),
    pos             bigint   CHECK (pos >= 1),
    event_id        text     NOT NULL,
    type            text     NOT NULL,
    version         integer  NOT NULL,
    aggregate_kind  smallint NOT NULL CHECK (aggregate_kind > 0),
    aggregate_id    text     NOT NULL,
    currency        text     NOT NULL,
    minor_units     smallint NOT NULL,
    seq             bigint   NOT NULL,
    actor_kind      smallint NOT NULL,
    actor_id        text     NOT NULL,
    at_ns           bigint   NOT NULL,
    payload         bytea    NOT NULL
);

-- What the positioner has yet to position, in insertion order.
CREATE INDEX giftkit_outbox_unpositioned ON giftkit_outbox (id) WHERE pos IS NULL;

-- What consumers read, and Prune removes, in commit order.
CREATE UNIQUE INDEX giftkit_outbox_pos ON giftkit_outbox (pos) WHERE pos IS NOT NULL;

-- The last position given; its row lock serializes positioners.
CREATE TABLE giftkit_outbox_head (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_pos  bigint  NOT NULL CHECK (last_pos >= 0)
);
INSERT INTO giftkit_outbox_head (last_pos) VALUES (0);

-- Each registered consumer's cursor: the last position it acknowledged.
-- Names are compared byte by byte, as Go compares strings.
CREATE TABLE giftkit_outbox_consumers (
    name        text        COLLATE "C" PRIMARY KEY,
    acked       bigint      NOT NULL DEFAULT 0 CHECK (acked >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- An event is never changed, but for being positioned once; only a
-- positioned event may be removed (by Prune, once every consumer has
-- acknowledged it). TRUNCATE is refused: it would remove events no one has
-- read.
CREATE FUNCTION giftkit_outbox_append_only() RETURNS trigger AS $$
DECLARE
    unchanged giftkit_outbox;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        unchanged := NEW;
        unchanged.pos := OLD.pos;
        IF OLD.pos IS NULL AND NEW.pos IS NOT NULL AND unchanged IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    ELSIF TG_OP = 'DELETE' AND OLD.pos IS NOT NULL THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'giftkit_outbox: % refused: events are only positioned once, and removed once positioned', TG_OP
        USING ERRCODE = 'check_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER giftkit_outbox_append_only BEFORE UPDATE OR DELETE ON giftkit_outbox
    FOR EACH ROW EXECUTE FUNCTION giftkit_outbox_append_only();

CREATE TRIGGER giftkit_outbox_no_truncate BEFORE TRUNCATE ON giftkit_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION giftkit_outbox_append_only();

-- No trigger notifies the outbox's listeners: a transaction that runs
-- NOTIFY makes the commits of every other that does take turns with it (a
-- lock on the notification queue held through the commit), so with
-- synchronous_commit on their WAL flushes would no longer be shared. The
-- Store sends NOTIFY after a unit of work that wrote events has committed,
-- in a transaction of its own (see pgstore's package doc).

-- The positioner: gives up to max_rows committed events that have no
-- position the next positions, in order of id, and returns how many. Call
-- it as a statement of its own in a READ COMMITTED transaction that does
-- nothing else, and commit at once.
--
-- Why positions follow commit order without losing an event:
--  * Positioners take turns: each locks the head row and holds the lock to
--    its commit. The UPDATE below is a statement of its own, after the
--    lock is granted, so under READ COMMITTED its snapshot sees everything
--    committed before then: every row the previous positioner positioned,
--    and its head. Positions are therefore given once, contiguously, and
--    committed in increasing order: a reader that sees position p sees
--    every position before it.
--  * Only committed rows are positioned (the snapshot sees no other), so a
--    unit that commits later gets later positions, whatever its ids: a
--    consumer that has read up to p never finds an event before p later.
--  * Each aggregate's events keep their order. Two units of work on one
--    card, account or payment are serialized by its row lock: the later
--    one inserts its events after the earlier committed, hence with larger
--    ids, and any snapshot that sees the later unit's rows sees the
--    earlier's (it committed first). Ordering each batch by id therefore
--    puts the earlier unit's events first, in this batch or an earlier one.
--    A unit's own events are inserted, and numbered, in the order of its
--    calls.
CREATE FUNCTION giftkit_outbox_position(max_rows integer) RETURNS bigint AS $$
DECLARE
    last_given  bigint;
    given       bigint;
    top         bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'giftkit_outbox_position must run in a READ COMMITTED transaction';
    END IF;
    -- Nothing to do, as most calls find: no lock taken.
    IF NOT EXISTS (SELECT 1 FROM giftkit_outbox WHERE pos IS NULL) THEN
        RETURN 0;
    END IF;
    SELECT last_pos INTO last_given FROM giftkit_outbox_head FOR UPDATE;
    WITH batch AS (
        SELECT id, row_number() OVER (ORDER BY id) AS rn
        FROM (SELECT id FROM giftkit_outbox WHERE pos IS NULL ORDER BY id LIMIT max_rows) unpositioned
    ), positioned AS (
        UPDATE giftkit_outbox o SET pos = last_given + batch.rn
        FROM batch WHERE o.id = batch.id AND o.pos IS NULL
        RETURNING o.pos
    )
    SELECT count(*), max(positioned.pos) INTO given, top FROM positioned;
    IF given > 0 THEN
        UPDATE giftkit_outbox_head SET last_pos = top;
    END IF;
    RETURN given;
END
$$ LANGUAGE plpgsql;

-- Dead letters (outbox.DeadLetter), one row per consumer and event ID:
-- the events a consumer gave up on (a webhook dispatcher, once its
-- endpoint failed every attempt) and acknowledged, so Prune may remove
-- them from the outbox. Each row keeps its event whole, in the outbox's
-- columns (pos is its position there), and what went wrong last;
-- failed_at keeps the nanoseconds below the microsecond beside it, as
-- deliveries' times do. Names and event IDs are compared byte by byte, as
-- Go compares strings, which is the order List returns ties of pos in.
CREATE TABLE giftkit_dead_letters (
    consumer        text        COLLATE "C" NOT NULL,
    event_id        text        COLLATE "C" NOT NULL,
    pos             bigint      NOT NULL,
    type            text        NOT NULL,
    version         integer     NOT NULL,
    aggregate_kind  smallint    NOT NULL,
    aggregate_id    text        NOT NULL,
    currency        text        NOT NULL,
    minor_units     smallint    NOT NULL,
    seq             bigint      NOT NULL,
    actor_kind      smallint    NOT NULL,
    actor_id        text        NOT NULL,
    at_ns           bigint      NOT NULL,
    payload         bytea       NOT NULL,
    attempts        bigint      NOT NULL,
    status          bigint      NOT NULL,
    error           text        NOT NULL,
    failed_at       timestamptz NOT NULL,
    failed_at_ns    smallint    NOT NULL CHECK (failed_at_ns BETWEEN 0 AND 999),
    PRIMARY KEY (consumer, event_id)
);

-- A consumer's dead letters in the order List returns them.
CREATE INDEX giftkit_dead_letters_pos ON giftkit_dead_letters (consumer, pos, event_id);

-- E-gift deliveries (egift.Delivery), one row per delivery. The sealed
-- code is bytes the library encrypted; the database never sees the code.
-- Times keep the nanoseconds below the microsecond beside them, as cards'
-- do; sent_at is NULL until the delivery is sent.
CREATE TABLE giftkit_deliveries (
    id             text        COLLATE "C" PRIMARY KEY,
    card_id        text        NOT NULL,
    recipient      text        NOT NULL,
    sender         text        NOT NULL,
    message        text        NOT NULL,
    send_at        timestamptz NOT NULL,
    send_at_ns     smallint    NOT NULL CHECK (send_at_ns BETWEEN 0 AND 999),
    state          text        NOT NULL CHECK (state IN ('scheduled', 'sending', 'sent', 'failed', 'cancelled')),
    -- The sealed code, erased (empty) once the delivery is sent or
    -- cancelled, and only then.
    sealed         bytea       NOT NULL CHECK ((state IN ('sent', 'cancelled')) = (octet_length(sealed) = 0)),
    attempts       integer     NOT NULL CHECK (attempts >= 0),
    last_error     text        NOT NULL,
    created_at     timestamptz NOT NULL,
    created_at_ns  smallint    NOT NULL CHECK (created_at_ns BETWEEN 0 AND 999),
    updated_at     timestamptz NOT NULL,
    updated_at_ns  smallint    NOT NULL CHECK (updated_at_ns BETWEEN 0 AND 999),
    sent_at        timestamptz,
    sent_at_ns     smallint    NOT NULL CHECK (sent_at_ns BETWEEN 0 AND 999)
);

-- The deliveries due (scheduled, or sending with a lease that may have
-- lapsed), in the order DueDeliveries returns them.
CREATE INDEX giftkit_deliveries_due ON giftkit_deliveries (send_at, send_at_ns, id) WHERE state IN ('scheduled', 'sending');
