-- Decides a batch of reserve_seat jobs in a handful of statements, not four per job (the per-job
-- version spent most of its time starting statements: each executor start re-reads the tables'
-- CHECK constraints and rebuilds every expression). Called by the payment worker's reserve handler
-- once per batch.
--
-- Jobs are decided in the given order (the runner sorts a batch by seat):
-- 1. the (user, schedule) advisory locks, all at once, in key order: one user's reservations in one
--    schedule are decided one batch at a time, so the hold limit holds. Every batch takes its
--    advisory locks before any row lock, each kind in one order, so reserve batches cannot
--    deadlock on each other through them;
-- 2. one read, on a snapshot taken after those locks: each job's schedule, seat state, and the
--    user's live holds in that schedule;
-- 3. the decisions, job by job, in memory: no such schedule, a seat number out of range, the hold
--    limit (live holds plus those granted earlier in this batch; before the seat is looked at, as
--    docs/api.md orders them), the seat taken (sold, a live hold, or granted earlier in this batch);
-- 4. lapsed holds on granted seats that the reaper has not ended yet: their reservations are
--    marked expired, locked before the seats (the order pay, cancel and the reaper use);
-- 5. the arbiter: one conditional UPDATE of all granted seats, with their reservations inserted in
--    the same statement. A granted seat the UPDATE did not match was taken by another transaction
--    since step 2: that job is seat_unavailable. If such a job's (user, schedule) also had a job
--    refused for the hold limit, that refusal may have counted a hold that never happened: the
--    call raises, and the runner reruns the batch one job per savepoint, each exactly.
-- Any error aborts the call, and so the batch, with the same fallback.
CREATE OR REPLACE FUNCTION stagedoor_reserve_seats(
    user_ids bigint[], schedule_ids bigint[], seat_nos integer[], hold_seconds float8, max_holds integer)
RETURNS TABLE (n integer, outcome text, total_seats integer, price bigint, reservation_id bigint, hold_expires_at timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
    jobs integer := coalesce(array_length(user_ids, 1), 0);
    outcomes text[] := array_fill(NULL::text, ARRAY[jobs]);
    totals integer[] := array_fill(NULL::integer, ARRAY[jobs]);
    prices bigint[] := array_fill(NULL::bigint, ARRAY[jobs]);
    ids bigint[] := array_fill(NULL::bigint, ARRAY[jobs]);
    expiries timestamptz[] := array_fill(NULL::timestamptz, ARRAY[jobs]);
    -- Indexed by the first job of the same (user, schedule) or the same seat.
    granted integer[] := array_fill(0, ARRAY[jobs]);
    limited boolean[] := array_fill(false, ARRAY[jobs]);
    taken boolean[] := array_fill(false, ARRAY[jobs]);
    key_of integer[] := array_fill(0, ARRAY[jobs]);
    -- The granted jobs, in order.
    g_n integer[] := '{}';
    lapsed bigint[] := '{}';
    j record;
    made record;
BEGIN
    IF jobs = 0 THEN
        RETURN;
    END IF;

    PERFORM pg_advisory_xact_lock(k.key)
    FROM (SELECT DISTINCT hashtextextended('holds:' || u || ':' || s, 0) AS key
          FROM unnest(user_ids, schedule_ids) AS t(u, s) ORDER BY 1) k;

    FOR j IN
        SELECT b.n::integer AS n, sc.id IS NOT NULL AS found, sc.total_seats, sc.price,
               st.status, st.hold_expires_at, st.reservation_id,
               min(b.n) OVER (PARTITION BY b.u, b.s)::integer AS key_first,
               min(b.n) OVER (PARTITION BY b.s, b.seat)::integer AS seat_first,
               (SELECT count(*)::int FROM reservations r
                WHERE r.user_id = b.u AND r.schedule_id = b.s AND r.status = 'held' AND r.hold_expires_at > now()) AS live,
               b.seat
        FROM unnest(user_ids, schedule_ids, seat_nos) WITH ORDINALITY AS b(u, s, seat, n)
        LEFT JOIN schedules sc ON sc.id = b.s
        LEFT JOIN seats st ON st.schedule_id = b.s AND st.seat_no = b.seat
        ORDER BY b.n
    LOOP
        totals[j.n] := j.total_seats;
        prices[j.n] := j.price;
        key_of[j.n] := j.key_first;
        IF NOT j.found THEN
            outcomes[j.n] := 'not_found';
        ELSIF j.seat < 1 OR j.seat > j.total_seats THEN
            outcomes[j.n] := 'invalid_seat';
        ELSIF j.live + granted[j.key_first] >= max_holds THEN
            outcomes[j.n] := 'already_reserved';
            limited[j.key_first] := true;
        ELSIF taken[j.seat_first] OR j.status = 'sold' OR (j.status = 'held' AND j.hold_expires_at >= now()) THEN
            outcomes[j.n] := 'seat_unavailable';
        ELSE
            granted[j.key_first] := granted[j.key_first] + 1;
            taken[j.seat_first] := true;
            g_n := g_n || j.n;
            IF j.status = 'held' THEN
                lapsed := lapsed || j.reservation_id;
            END IF;
        END IF;
    END LOOP;

    IF cardinality(g_n) > 0 THEN
        IF cardinality(lapsed) > 0 THEN
            UPDATE reservations SET status = 'expired', updated_at = now()
            WHERE id = ANY (lapsed) AND status = 'held' AND reservations.hold_expires_at < now();
        END IF;

        FOR made IN
            WITH granted_jobs AS (
                SELECT g.n, user_ids[g.n] AS u, schedule_ids[g.n] AS s, seat_nos[g.n] AS seat, prices[g.n] AS price,
                       nextval('reservations_id_seq'::regclass) AS id
                FROM unnest(g_n) WITH ORDINALITY AS g(n, o) ORDER BY g.o
            ), seat AS (
                UPDATE seats SET status = 'held', hold_expires_at = now() + make_interval(secs => hold_seconds),
                                 reservation_id = gj.id
                FROM granted_jobs gj
                WHERE seats.schedule_id = gj.s AND seats.seat_no = gj.seat
                  AND (seats.status = 'available' OR (seats.status = 'held' AND seats.hold_expires_at < now()))
                RETURNING gj.n, gj.u, gj.s, gj.seat, gj.price, gj.id, seats.hold_expires_at
            ), inserted AS (
                INSERT INTO reservations (id, user_id, schedule_id, seat_no, status, price, hold_expires_at)
                OVERRIDING SYSTEM VALUE
                SELECT seat.id, seat.u, seat.s, seat.seat, 'held', seat.price, seat.hold_expires_at FROM seat
                RETURNING reservations.id
            )
            SELECT seat.n, seat.id, seat.hold_expires_at FROM seat
        LOOP
            outcomes[made.n] := 'held';
            ids[made.n] := made.id;
            expiries[made.n] := made.hold_expires_at;
        END LOOP;

        FOR i IN 1 .. cardinality(g_n) LOOP
            IF outcomes[g_n[i]] IS NULL THEN
                IF limited[key_of[g_n[i]]] THEN
                    RAISE EXCEPTION 'a granted seat was taken meanwhile, and its hold may have refused another job of its user for the hold limit'
                        USING ERRCODE = 'serialization_failure';
                END IF;
                outcomes[g_n[i]] := 'seat_unavailable';
            END IF;
        END LOOP;
    END IF;

    RETURN QUERY
    SELECT i, outcomes[i], totals[i], prices[i], ids[i], expiries[i] FROM generate_series(1, jobs) AS i;
END
$$;
