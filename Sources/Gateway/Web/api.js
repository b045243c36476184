// The Stagedoor API as the pages call it: JSON in and out, problems as errors, and retries that a
// load balancer in front of several gateways makes safe — a request that met a dead gateway (a
// network error, 502, 503) or a rate limit (429) is sent again, GETs always, writes only when they
// carry an Idempotency-Key (the same one), so a retried payment never pays twice.

const RETRIES = 6;

export class ApiError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.problem = problem;
    this.status = status;
    this.code = problem.code || `http_${status}`;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt) => Math.min(200 * 2 ** attempt, 3000) * (0.8 + Math.random() * 0.4);

export function newIdempotencyKey() {
  return crypto.randomUUID();
}

function headersFor(options) {
  const headers = { Accept: 'application/json' };
  if (options.bearer) headers.Authorization = `Bearer ${options.bearer}`;
  if (options.token) headers['X-Queue-Token'] = options.token;
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  return headers;
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return {}; // not the API's answer (a balancer's error page): described by its status
  }
}

/**
 * Sends one API request and answers its JSON body; a problem answer throws an ApiError.
 * options: bearer (API or admin key), token (queue token), body, idempotencyKey,
 * retry (true: the request is safe to repeat although it is no GET).
 * A `202` (the job runs on) is followed to its outcome through `GET /v1/jobs/{id}`.
 */
export async function request(method, path, options = {}) {
  const retriable = method === 'GET' || Boolean(options.idempotencyKey) || Boolean(options.retry);
  const init = {
    method,
    headers: headersFor(options),
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    cache: 'no-store',
  };
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (retriable && attempt < RETRIES) {
        await sleep(backoff(attempt));
        continue;
      }
      throw new ApiError({ code: 'network', title: 'The server could not be reached.', detail: String(error) }, 0);
    }
    const transient = response.status === 502 || response.status === 503 || response.status === 504;
    if ((response.status === 429 || (transient && retriable)) && attempt < RETRIES) {
      const after = Number(response.headers.get('Retry-After'));
      await sleep(after > 0 ? Math.min(after, 5) * 1000 : backoff(attempt));
      continue;
    }
    const body = await readBody(response);
    if (response.status === 202 && body && body.jobId) {
      return followJob(body.jobId, options.bearer);
    }
    if (!response.ok) throw new ApiError(body || {}, response.status);
    return body;
  }
}

async function followJob(jobId, bearer) {
  for (let attempt = 0; ; attempt++) {
    await sleep(Math.min(300 * (attempt + 1), 2000));
    const job = await request('GET', `/v1/jobs/${jobId}`, { bearer });
    if (job.status === 'succeeded' || job.status === 'failed') {
      const outcome = job.response || { status: 503, body: {} };
      if (outcome.status >= 400) throw new ApiError(outcome.body || {}, outcome.status);
      return outcome.body;
    }
  }
}

/**
 * Follows a server-sent event stream with the credentials in headers (EventSource cannot send
 * them, and no secret goes in a URL): calls onEvent(name, data) for each event and returns when the
 * server ends the stream. Throws an ApiError when the stream is refused (e.g. 503 at the gateway's
 * limit) and a plain Error when it breaks.
 */
export async function followEvents(path, options, onEvent, signal) {
  const response = await fetch(path, {
    headers: { ...headersFor(options), Accept: 'text/event-stream' },
    cache: 'no-store',
    signal,
  });
  if (!response.ok) throw new ApiError((await readBody(response)) || {}, response.status);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let name = 'message';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (data.length) onEvent(name, JSON.parse(data.join('\n')));
        name = 'message';
        data = [];
      } else if (line.startsWith('event:')) {
        name = line.slice(6).trim();
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).trimStart());
      }
    }
  }
}

const WORDS = {
  network: 'The server could not be reached; check your connection and try again.',
  unauthorized: 'Your key was not accepted.',
  invalid_request: 'That request was not valid.',
  queue_token_invalid: 'Your place in line is not known here; join the line again.',
  queue_token_not_active: 'It is not your turn yet.',
  queue_token_wrong_room: 'This concert has a waiting room of its own; join its line first.',
  not_found: 'That no longer exists.',
  seat_unavailable: 'That seat was just taken by someone else; pick another.',
  already_reserved: 'You already hold the most seats allowed for this date.',
  already_paid: 'That reservation is already paid.',
  idempotency_conflict: 'That request was already sent with other details.',
  insufficient_points: 'Not enough points: charge some first.',
  hold_expired: 'The hold on that seat ran out; pick a seat again.',
  rate_limited: 'Too many requests; wait a moment.',
  unavailable: 'The service is busy; try again in a moment.',
  job_not_dead: 'That job is not dead (any more).',
  concert_in_room: 'That concert already has a room of its own.',
};

/** An error in words, with the problem's code: "That seat was just taken … (seat_unavailable)". */
export function describe(error) {
  if (error instanceof ApiError) {
    const words = WORDS[error.code] || error.problem.title
      || (error.status >= 500 ? 'The service could not answer; try again in a moment.' : 'Something went wrong.');
    const detail = error.code === 'insufficient_points' && error.problem.required !== undefined
      ? ` You have ${error.problem.balance} points; it costs ${error.problem.required}.`
      : '';
    return `${words}${detail} (${error.code})`;
  }
  return `Something went wrong in this page: ${error && error.message ? error.message : error}`;
}

const dateFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});

/** "Sat 2 Jan 2027, 19:00 UTC". */
export function formatDate(iso) {
  return `${dateFormat.format(new Date(iso))} UTC`;
}

/** "1:05" for 65 seconds; "2:01:05" past an hour. */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/**
 * A page's error reporting: `report(error)` puts it in words into `alert` (a `role="alert"`
 * element), `clear()` hides it, and `action(control, body, usable)` makes an event handler that
 * runs `body` with the control disabled meanwhile, reports what it throws, and enables the control
 * again after — unless `usable()` says it has nothing to act on.
 */
export function alerts(alert) {
  const report = (error) => {
    alert.textContent = describe(error);
    alert.hidden = false;
  };
  const clear = () => {
    alert.hidden = true;
    alert.textContent = '';
  };
  const action = (control, body, usable = () => true) => async (event) => {
    if (event) event.preventDefault();
    clear();
    control.disabled = true;
    try {
      await body();
    } catch (error) {
      report(error);
    } finally {
      control.disabled = !usable();
    }
  };
  return { report, clear, action };
}

/** An element with attributes and children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}
