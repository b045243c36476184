-- Refuses deleting or renumbering the users and seats that reservations name. Reservations carry no
-- foreign keys to them (see the reservations table in sql/migrations/001_baseline.sql): nothing in
-- Stagedoor deletes either, and these triggers refuse it to anyone else. Statement triggers on
-- DELETE, TRUNCATE and on updates that name a seat's key columns, so the seat updates of reserving,
-- paying and reaping never fire them. A user's id is an identity column, which PostgreSQL already
-- refuses to update.
CREATE OR REPLACE FUNCTION stagedoor_refuse_losing_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are never deleted or renumbered: reservations name them', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE OR REPLACE TRIGGER seats_kept BEFORE DELETE OR TRUNCATE ON seats
    FOR EACH STATEMENT EXECUTE FUNCTION stagedoor_refuse_losing_rows();
CREATE OR REPLACE TRIGGER seats_keys_kept BEFORE UPDATE OF schedule_id, seat_no ON seats
    FOR EACH STATEMENT EXECUTE FUNCTION stagedoor_refuse_losing_rows();
CREATE OR REPLACE TRIGGER users_kept BEFORE DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION stagedoor_refuse_losing_rows();
