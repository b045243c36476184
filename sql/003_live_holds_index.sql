-- Counting a user's live holds in a schedule (every reservation does it) by an index that covers
-- the whole condition, hold_expires_at included.
--
-- Measured in `make bench`: on a freshly filled reservations table the planner, with no statistics
-- yet, counted through reservations_one_held_per_seat (schedule_id, seat_no) — every held seat of
-- the schedule — instead of the (user_id, schedule_id) index. With the expiry in the index, this
-- one is the cheaper choice with or without statistics.
CREATE INDEX reservations_user_schedule_live_idx ON reservations (user_id, schedule_id, hold_expires_at) WHERE status = 'held';
DROP INDEX reservations_user_schedule_held_idx;
