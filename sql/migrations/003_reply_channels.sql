-- Each job names the channel its outcome is announced on: the gateway that enqueued it listens on a
-- channel of its own, so N gateways no longer each receive every gateway's completions. NULL: the
-- shared channel job_done (jobs nobody waits for, and gateways of an earlier release during a
-- rolling upgrade). A nullable column without a default: a change to the catalog only, no rewrite.
ALTER TABLE jobs ADD COLUMN reply_channel text;

-- The functions whose arguments or answers changed (their new definitions are in sql/functions/,
-- applied after the migrations).
DROP FUNCTION IF EXISTS stagedoor_insert_jobs;
DROP PROCEDURE IF EXISTS stagedoor_enqueue_jobs;
DROP PROCEDURE IF EXISTS stagedoor_enqueue_booking_jobs;
DROP FUNCTION IF EXISTS stagedoor_finish_jobs;
