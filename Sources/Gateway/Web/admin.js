// The operators' console: the rooms, refreshed live, with their controls; creating a room; dead
// jobs with retry and discard. The admin key stays in this tab's session storage.
import { request, alerts, formatDate, el, ApiError } from './api.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
let refreshTimer = null;

const key = {
  get value() { return sessionStorage.getItem('stagedoor.adminKey'); },
  set value(v) { if (v) sessionStorage.setItem('stagedoor.adminKey', v); else sessionStorage.removeItem('stagedoor.adminKey'); },
};

const { report: alertError, action } = alerts($('alert'));

const admin = (method, path, options = {}) => request(method, path, { bearer: key.value, ...options });

// Rooms: one row per room, kept (not rebuilt) across refreshes so a rate being typed survives.

const rows = new Map();

function roomRow(room) {
  const cells = {
    id: el('td', {}, String(room.roomId)),
    name: el('th', { scope: 'row' }, room.name),
    state: el('td'), rate: el('td'), cap: el('td'), waiting: el('td'), active: el('td'), admitted: el('td'),
  };
  const pause = el('button', { type: 'button' }, 'Pause');
  const resume = el('button', { type: 'button' }, 'Resume');
  const open = el('button', { type: 'button' }, 'Open now');
  const rate = el('input', { type: 'number', min: '1', max: '100000', step: 'any', 'aria-label': 'Rate', class: 'narrow' });
  const setRate = el('button', { type: 'button' }, 'Set rate');
  const patch = (body) => admin('PATCH', `/v1/admin/rooms/${room.roomId}`, { body, retry: true }).then(update);
  pause.addEventListener('click', action(pause, () => patch({ state: 'paused' })));
  resume.addEventListener('click', action(resume, () => patch({ state: 'open' })));
  open.addEventListener('click', action(open, () => patch({ state: 'open' })));
  setRate.addEventListener('click', action(setRate, async () => {
    const value = Number(rate.value);
    if (!(value > 0)) throw new ApiError({ code: 'invalid_request', title: 'Enter a rate above 0.' }, 400);
    await patch({ admitPerSecond: value });
    rate.value = '';
  }));
  const tr = el('tr', { 'data-room': room.roomId },
    cells.id, cells.name, cells.state, cells.rate, cells.cap, cells.waiting, cells.active, cells.admitted,
    el('td', { class: 'actions' }, pause, resume, open, rate, setRate));
  return { tr, cells, pause, resume, open };
}

function update(room) {
  let row = rows.get(room.roomId);
  if (!row) {
    row = roomRow(room);
    rows.set(room.roomId, row);
    $('rooms').tBodies[0].append(row.tr);
  }
  const opens = room.state === 'scheduled' && room.opensAt ? ` (opens ${formatDate(room.opensAt)})` : '';
  row.cells.name.textContent = room.name;
  row.cells.state.textContent = room.state + opens;
  row.cells.rate.textContent = String(room.admitPerSecond);
  row.cells.cap.textContent = String(room.maxActive);
  row.cells.waiting.textContent = String(room.waiting);
  row.cells.active.textContent = String(room.active);
  row.cells.admitted.textContent = String(room.admittedTotal);
  row.pause.hidden = room.state !== 'open';
  row.resume.hidden = room.state !== 'paused';
  row.open.hidden = room.state !== 'scheduled';
}

async function refresh() {
  const stats = await admin('GET', '/v1/admin/stats');
  for (const room of stats.rooms) update(room);
  const jobs = stats.jobs;
  $('stats').textContent = `Jobs: ${jobs.queued} queued, ${jobs.running} running, ${jobs.dead} dead; oldest queued ${jobs.oldestQueuedSeconds.toFixed(1)} s. Updated ${new Date().toLocaleTimeString('en-GB')}.`;
  await refreshDeadJobs();
}

// Dead jobs.

async function refreshDeadJobs() {
  const { jobs } = await admin('GET', '/v1/admin/jobs?state=dead&limit=50');
  const body = $('dead-jobs').tBodies[0];
  body.replaceChildren(...jobs.map((job) => {
    const retry = el('button', { type: 'button' }, 'Retry');
    const discard = el('button', { type: 'button' }, 'Discard');
    retry.addEventListener('click', action(retry, async () => {
      await admin('POST', `/v1/admin/jobs/${job.jobId}/retry`);
      await refreshDeadJobs();
    }));
    discard.addEventListener('click', action(discard, async () => {
      await admin('DELETE', `/v1/admin/jobs/${job.jobId}`);
      await refreshDeadJobs();
    }));
    return el('tr', { 'data-job': job.jobId },
      el('th', { scope: 'row' }, String(job.jobId)), el('td', {}, job.kind), el('td', {}, String(job.attempts)),
      el('td', {}, job.userId === null ? '—' : String(job.userId)), el('td', {}, formatDate(job.createdAt)),
      el('td', {}, job.lastError || ''), el('td', { class: 'actions' }, retry, discard));
  }));
  $('no-dead-jobs').hidden = jobs.length > 0;
}

// Creating a room.

async function createRoom() {
  const concertIds = $('room-concerts').value.split(/[ ,]+/).filter(Boolean).map(Number);
  if (!concertIds.length || concertIds.some((id) => !Number.isInteger(id) || id < 1)) {
    throw new ApiError({ code: 'invalid_request', title: 'Concert ids are whole numbers, separated by commas.' }, 400);
  }
  const body = {
    name: $('room-name').value.trim(), concertIds,
    admitPerSecond: Number($('room-rate').value), maxActive: Number($('room-cap').value),
  };
  if ($('room-opens').value) body.opensAt = new Date(`${$('room-opens').value}Z`).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const room = await admin('POST', '/v1/admin/rooms', { body });
  update(room);
  $('create-form').reset();
}

// Signing in and out.

async function signIn(candidate) {
  key.value = candidate;
  try {
    await refresh();
  } catch (error) {
    key.value = null;
    throw error;
  }
  for (const id of ['rooms-section', 'create-section', 'jobs-section', 'console-nav']) $(id).hidden = false;
  $('sign-in').hidden = true;
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => refresh().catch(alertError), REFRESH_MS);
}

function signOut() {
  clearInterval(refreshTimer);
  key.value = null;
  location.reload();
}

$('sign-in-form').addEventListener('submit', action($('sign-in-form').querySelector('button'), () => signIn($('admin-key').value)));
$('create-form').addEventListener('submit', action($('create-form').querySelector('button'), createRoom));
$('sign-out').addEventListener('click', signOut);
if (key.value) signIn(key.value).catch(alertError);
