-- Gives every new room its sequence of places, `room_places_<id>`: the token issue takes a token's
-- place from it with nextval (stagedoor_issue_tokens), which no other issue waits for — no row of
-- `rooms` is locked to hand out places, however many rooms one batch of requests spans. (Room 1's
-- sequence is made by migration 002, which made room 1.)
CREATE OR REPLACE FUNCTION stagedoor_room_places() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I AS bigint', 'room_places_' || NEW.id);
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER rooms_places AFTER INSERT ON rooms FOR EACH ROW EXECUTE FUNCTION stagedoor_room_places();
