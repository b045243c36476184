-- A reservation's user and seat are checked by the statement that makes it, not again per row.
--
-- Only stagedoor_reserve_seats (005) inserts reservations, and it inserts exactly the rows its
-- conditional UPDATE of seats returned, each for the user of its job, whom the gateway found by
-- API key. The two foreign keys checked that again for every row: two more queries per reservation
-- (SELECT … FOR KEY SHARE on the user and on the seat), each starting an executor, and the lock on
-- the user's row is itself written to the WAL. In a perf profile of the booking benchmark these
-- checks were a quarter of the reserve function's CPU.
--
-- Measured (booking benchmark's closed loop, one-loop gateway, 64 connections, 2 cores; fresh
-- database each run, three rounds taking turns, with 013's first version applied to both sides,
-- which measured the same end to end as the released one): PostgreSQL's CPU per reservation
-- 115–118 µs against 129–130 µs, reservations/s 5,732–5,852 against 5,549–5,641.
--
-- What the keys also guarded, that a user or seat that reservations name is never deleted or
-- renumbered, is now a rule of its own: nothing in Stagedoor deletes either, and these triggers
-- refuse it to anyone else. They are statement triggers on DELETE, TRUNCATE and on updates that
-- name a seat's key columns, so the seat updates of reserving, paying and reaping never fire them.
-- A user's id is an identity column, which PostgreSQL already refuses to update.
ALTER TABLE reservations
    DROP CONSTRAINT reservations_user_id_fkey,
    DROP CONSTRAINT reservations_schedule_id_seat_no_fkey;

CREATE FUNCTION stagedoor_refuse_losing_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are never deleted or renumbered: reservations name them', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER seats_kept BEFORE DELETE OR TRUNCATE ON seats
    FOR EACH STATEMENT EXECUTE FUNCTION stagedoor_refuse_losing_rows();
CREATE TRIGGER seats_keys_kept BEFORE UPDATE OF schedule_id, seat_no ON seats
    FOR EACH STATEMENT EXECUTE FUNCTION stagedoor_refuse_losing_rows();
CREATE TRIGGER users_kept BEFORE DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION stagedoor_refuse_losing_rows();
