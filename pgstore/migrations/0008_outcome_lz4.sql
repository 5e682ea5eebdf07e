-- giftkit schema, version 8: idempotency outcomes compressed with lz4.
--
-- An issuance's outcome holds its cards (1.6 MB for 10,000): pglz, the
-- default, took 30 ms of the server's time to compress one, a tenth of
-- the batch's; lz4 takes 8 ms and keeps it smaller. Only values written
-- from now on are compressed so; a server built without lz4 keeps pglz.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE giftkit_idempotency ALTER COLUMN outcome SET COMPRESSION lz4;
    END IF;
END
$$;
