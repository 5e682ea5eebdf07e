-- giftkit schema, version 2: the attempt logs of wallet.StoreLimiter, one row
-- per subject (see wallet.AttemptLog).
--
-- The subject is kept as bytes: it is any string, NUL included, which text
-- cannot hold. Times are nanoseconds since the Unix epoch, not timestamptz:
-- the limiter finds an attempt again by its exact time, and timestamptz
-- keeps microseconds. A log with nothing in it is deleted, never stored.
-- updated_at (the database's clock) is for clean-up: a subject that failed
-- and never came back keeps its row until something like
--   DELETE FROM giftkit_attempt_logs WHERE updated_at < now() - interval '1 day'
-- (a day longer than the limiter's window and lockout) removes it.

CREATE TABLE giftkit_attempt_logs (
    subject          bytea       PRIMARY KEY,
    attempts_ns      bigint[]    NOT NULL,
    locked_until_ns  bigint,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(attempts_ns) > 0 OR locked_until_ns IS NOT NULL)
);
