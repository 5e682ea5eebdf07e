-- giftkit schema, version 4. A card's code hash never changes; the
-- database refuses it, so that a unit of work that tries fails as a whole
-- (its writes travel with its COMMIT, and a failed statement stops it),
-- rather than affecting no row and committing the rest.

CREATE FUNCTION giftkit_cards_hash_fixed() RETURNS trigger AS $$
BEGIN
    IF NEW.hash <> OLD.hash THEN
        RAISE EXCEPTION 'card %: a card''s code hash cannot change', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER giftkit_cards_hash_fixed BEFORE UPDATE ON giftkit_cards
    FOR EACH ROW EXECUTE FUNCTION giftkit_cards_hash_fixed();
