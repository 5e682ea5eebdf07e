-- giftkit schema for SQLite, version 3: the outbox of domain events (package
-- outbox), its consumers' cursors and dead letters, and e-gift deliveries
-- (package egift).

-- The outbox: one row per event, in the order of pos, its position.
-- pos is the rowid, assigned when the event is inserted, in the unit of work
-- that emits it (just before its COMMIT). SQLite lets one write transaction
-- run at a time on a database, whoever opens it, so a unit of work that
-- inserts events has every earlier writer's events committed before it
-- starts and every later writer's after it ends: positions increase in
-- commit order, and a reader never finds a smaller position committed after
-- a larger one that it has read. AUTOINCREMENT keeps the largest position
-- ever assigned (in sqlite_sequence), so a position is never given again,
-- even once its event is pruned.
--
-- The event's fields, as given (outbox.Event):
--   event_id        Event.ID, "evt_" and 32 hexadecimal digits
--   type            Event.Type, such as 'card.redeemed'
--   version         Event.Version, the payload's schema version
--   aggregate_kind  1 card, 2 account, 3 payment (outbox.AggregateKind)
--   aggregate_id    the card's ID, the account's owner or the payment's ID
--   currency        the account's currency code and minor units; '' and 0
--   minor_units     for a card or a payment
--   seq             Event.Seq, 1, 2, 3, ... within the aggregate
--   actor_kind      as in giftkit_activity: 'unattributed' (with actor_id
--   actor_id        '') when the host named no actor
--   at_ns           Event.At, in nanoseconds since the Unix epoch (UTC)
--   payload         Event.Payload, the JSON object as given
CREATE TABLE giftkit_outbox (
    pos             INTEGER PRIMARY KEY AUTOINCREMENT CHECK (pos >= 1),
    event_id        TEXT    NOT NULL,
    type            TEXT    NOT NULL CHECK (type <> ''),
    version         INTEGER NOT NULL,
    aggregate_kind  INTEGER NOT NULL CHECK (aggregate_kind IN (1, 2, 3)),
    aggregate_id    TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    minor_units     INTEGER NOT NULL CHECK (minor_units BETWEEN 0 AND 8),
    seq             INTEGER NOT NULL CHECK (seq >= 1),
    actor_kind      TEXT    NOT NULL CHECK (actor_kind IN ('unattributed', 'shopper', 'operator', 'client', 'system')),
    actor_id        TEXT    NOT NULL,
    at_ns           INTEGER NOT NULL,
    payload         BLOB    NOT NULL,
    CHECK (CASE aggregate_kind WHEN 2 THEN length(currency) = 3 ELSE currency = '' AND minor_units = 0 END),
    CHECK ((actor_kind = 'unattributed') = (actor_id = ''))
) STRICT;

-- The consumers of the outbox, each with its cursor: the position it
-- acknowledged last (outbox.Reader.Ack), which never moves back. A
-- consumer is registered by its first Events or Ack. updated_at is the
-- database's clock at the last move of the cursor, in nanoseconds: a
-- consumer that stopped long ago keeps every event after its cursor from
-- being pruned. To give it up, delete its row:
--   DELETE FROM giftkit_outbox_consumers WHERE name = 'old-consumer'
CREATE TABLE giftkit_outbox_consumers (
    name        TEXT    PRIMARY KEY,
    cursor      INTEGER NOT NULL CHECK (cursor >= 0),
    updated_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
) STRICT, WITHOUT ROWID;

-- Events are never changed or replaced (see the activity log's triggers in
-- version 2), and are removed only by pruning: an event that a registered
-- consumer has not acknowledged cannot be deleted, whoever connects.
CREATE TRIGGER giftkit_outbox_no_update BEFORE UPDATE ON giftkit_outbox
BEGIN
    SELECT RAISE(ABORT, 'giftkit: outbox events are never changed');
END;
CREATE TRIGGER giftkit_outbox_no_replace BEFORE INSERT ON giftkit_outbox
WHEN EXISTS (SELECT 1 FROM giftkit_outbox WHERE pos = NEW.pos)
BEGIN
    SELECT RAISE(ABORT, 'giftkit: outbox events are never replaced');
END;
CREATE TRIGGER giftkit_outbox_delete_acknowledged BEFORE DELETE ON giftkit_outbox
WHEN OLD.pos > (SELECT coalesce(min(cursor), 9223372036854775807) FROM giftkit_outbox_consumers)
BEGIN
    SELECT RAISE(ABORT, 'giftkit: an outbox event is removed only once every consumer acknowledged it');
END;

-- The dead letters of the outbox's consumers (outbox.DeadLetter): the events
-- a consumer, such as a webhook dispatcher, gave up on and acknowledged, one
-- row per consumer and event ID, which a Put replaces. The event is kept
-- whole, pos and the columns of giftkit_outbox as they are there, since the
-- outbox may prune it; then:
--   attempts        DeadLetter.Attempts, the failed attempts
--   status          DeadLetter.Status, the last attempt's (an HTTP status), 0
--                   for none
--   error           DeadLetter.Error, what went wrong last, as text
--   failed_at       DeadLetter.At, when the last attempt failed, in
--                   nanoseconds; NULL for the zero time
-- Rows are written and deleted only by their consumer (outbox.DeadLetters);
-- they are not pruned.
CREATE TABLE giftkit_dead_letters (
    consumer        TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    pos             INTEGER NOT NULL,
    type            TEXT    NOT NULL CHECK (type <> ''),
    version         INTEGER NOT NULL,
    aggregate_kind  INTEGER NOT NULL CHECK (aggregate_kind IN (1, 2, 3)),
    aggregate_id    TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    minor_units     INTEGER NOT NULL CHECK (minor_units BETWEEN 0 AND 8),
    seq             INTEGER NOT NULL CHECK (seq >= 1),
    actor_kind      TEXT    NOT NULL CHECK (actor_kind IN ('unattributed', 'shopper', 'operator', 'client', 'system')),
    actor_id        TEXT    NOT NULL,
    at_ns           INTEGER NOT NULL,
    payload         BLOB    NOT NULL,
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    status          INTEGER NOT NULL,
    error           TEXT    NOT NULL,
    failed_at       INTEGER,
    PRIMARY KEY (consumer, event_id),
    CHECK (CASE aggregate_kind WHEN 2 THEN length(currency) = 3 ELSE currency = '' AND minor_units = 0 END),
    CHECK ((actor_kind = 'unattributed') = (actor_id = ''))
) STRICT;

-- outbox.DeadLetters.List: one consumer's dead letters in order of pos (then
-- event ID, for two with one position).
CREATE INDEX giftkit_dead_letters_by_pos ON giftkit_dead_letters (consumer, pos, event_id);

-- E-gift deliveries (egift.Delivery), one row each. sealed is the card's
-- code sealed under the host's key, NULL once the delivery is sent or
-- cancelled (a sent or cancelled delivery that keeps it is refused);
-- sqlitestore never reads inside it. Times are nanoseconds, NULL for the
-- zero time. While a delivery is sending, send_at is when its lease lapses.
CREATE TABLE giftkit_deliveries (
    id          TEXT    PRIMARY KEY,
    card_id     TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    from_name   TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    send_at     INTEGER,
    state       TEXT    NOT NULL CHECK (state IN ('scheduled', 'sending', 'sent', 'failed', 'cancelled')),
    sealed      BLOB    CHECK (length(sealed) > 0),
    attempts    INTEGER NOT NULL CHECK (attempts >= 0),
    last_error  TEXT    NOT NULL,
    created_at  INTEGER,
    updated_at  INTEGER,
    sent_at     INTEGER,
    CHECK (state NOT IN ('sent', 'cancelled') OR sealed IS NULL)
) STRICT;

-- egift.Tx.DueDeliveries: the scheduled deliveries and those sending (due
-- again once their lease lapses), by send_at (the zero time, NULL, first),
-- then ID; sent, failed and cancelled ones are not in it.
CREATE INDEX giftkit_deliveries_due ON giftkit_deliveries (ifnull(send_at, -9223372036854775808), id)
WHERE state IN ('scheduled', 'sending');
