// The fans' app: sign up, the concerts and their rooms, the line (pushed, else polled), the seat map,
// a hold, points and a payment. Every write carries an Idempotency-Key (api.js retries with it).
import { request, followEvents, newIdempotencyKey, alerts, formatDate, formatDuration, el, ApiError } from './api.js';

const $ = (id) => document.getElementById(id);
const store = {
  get user() { return JSON.parse(localStorage.getItem('stagedoor.user') || 'null'); },
  set user(value) { localStorage.setItem('stagedoor.user', JSON.stringify(value)); },
  get ticket() { return JSON.parse(localStorage.getItem('stagedoor.ticket') || 'null'); },
  set ticket(value) {
    if (value) localStorage.setItem('stagedoor.ticket', JSON.stringify(value));
    else localStorage.removeItem('stagedoor.ticket');
  },
};

const state = { schedule: null, seat: null, hold: null, payKey: null, lineRun: 0, timers: new Set(), dates: new Map() };

function show(id, visible) { $(id).hidden = !visible; }

const { report: alertError, action } = alerts($('alert'));

function every(ms, tick) {
  const id = setInterval(tick, ms);
  state.timers.add(id);
  return () => { clearInterval(id); state.timers.delete(id); };
}

function auth(extra = {}) {
  return { bearer: store.user.apiKey, ...extra };
}

// Sign-up and points.

async function signUp() {
  const name = $('name').value.trim();
  const user = await request('POST', '/v1/users', { body: { name } });
  store.user = { userId: user.userId, name: user.name, apiKey: user.apiKey };
  await start();
}

async function refreshBalance() {
  const points = await request('GET', '/v1/points', auth());
  $('balance').textContent = `Balance: ${points.balance} points`;
}

async function charge() {
  const amount = Number($('points').value);
  if (!Number.isInteger(amount) || amount < 1) throw new ApiError({ code: 'invalid_request', title: 'Enter a whole number of points.' }, 400);
  const points = await request('POST', '/v1/points/charge', auth({ body: { amount }, idempotencyKey: newIdempotencyKey() }));
  $('balance').textContent = `Balance: ${points.balance} points`;
}

// Concerts and their rooms.

function roomLine(room, now = Date.now()) {
  if (!room) return '';
  if (room.state === 'scheduled' && room.opensAt) {
    const left = (Date.parse(room.opensAt) - now) / 1000;
    return left > 0 ? `Opens in ${formatDuration(left)} (${formatDate(room.opensAt)})` : 'Opening now';
  }
  if (room.state === 'paused') return 'Paused — the line keeps its places';
  return `Open — ${room.waiting} waiting`;
}

async function showConcerts() {
  const { concerts } = await request('GET', '/v1/concerts');
  const rooms = new Map();
  await Promise.all([...new Set(concerts.map((c) => c.roomId))].map(async (id) => {
    try { rooms.set(id, await request('GET', `/v1/rooms/${id}`)); } catch { /* shown without its room */ }
  }));
  const list = $('concert-list');
  list.replaceChildren(...concerts.map((concert) => {
    const line = el('p', { class: 'muted room-state' }, roomLine(rooms.get(concert.roomId)));
    const join = el('button', { type: 'button' }, 'Join the line');
    join.addEventListener('click', action(join, () => joinLine(concert)));
    return el('li', { class: 'card' }, el('h3', {}, concert.title), el('p', {}, concert.artist), line, join);
  }));
  if (!concerts.length) list.replaceChildren(el('li', { class: 'muted' }, 'No concerts on sale yet.'));
  // Countdowns tick between refreshes.
  const stop = every(1000, () => {
    concerts.forEach((concert, index) => {
      const line = list.children[index] && list.children[index].querySelector('.room-state');
      if (line) line.textContent = roomLine(rooms.get(concert.roomId));
    });
  });
  state.stopConcertClock?.();
  state.stopConcertClock = stop;
  show('concerts', true);
}

// The line.

async function joinLine(concert) {
  const ticket = await request('POST', '/v1/queue/tokens', auth({ body: { roomId: concert.roomId }, retry: true }));
  store.ticket = { token: ticket.token, roomId: concert.roomId, concertId: concert.id, concertTitle: concert.title };
  await followLine(ticket);
}

function renderTicket(ticket) {
  const status = $('status');
  const eta = $('eta');
  if (ticket.status === 'active') {
    status.textContent = "It's your turn";
    eta.textContent = '';
  } else if (ticket.status === 'waiting' && (ticket.roomState === 'scheduled' || ticket.position === null)) {
    status.textContent = 'Waiting for the sale to open';
    eta.textContent = ticket.opensAt ? `The sale opens ${formatDate(ticket.opensAt)}; your place is drawn then.` : '';
  } else if (ticket.status === 'waiting') {
    status.textContent = `Position ${ticket.position}`;
    eta.textContent = ticket.roomState === 'paused'
      ? 'The sale is paused; you keep your place.'
      : (ticket.etaSeconds !== null ? `About ${formatDuration(ticket.etaSeconds)} to go.` : '');
  } else if (ticket.status === 'expired') {
    status.textContent = 'Your place expired';
    eta.textContent = 'Join the line again to get a new place.';
  } else {
    status.textContent = 'Done';
    eta.textContent = '';
  }
}

/**
 * Shows the place in line as it changes: the event stream; when it breaks (its gateway went away), a
 * poll at once and the stream again soon, through another gateway; when it is refused (a gateway at
 * its limit of streams), polls at Retry-After for half a minute before the stream is tried again.
 */
async function followLine(first) {
  const run = ++state.lineRun;
  const ticket = store.ticket;
  show('concerts', false);
  show('booked', false);
  show('line', true);
  $('line-concert').textContent = ticket.concertTitle;
  let current = first;
  renderTicket(current);
  const credentials = auth({ token: ticket.token });
  const waiting = () => current.status === 'waiting' && run === state.lineRun;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let breaks = 0;
  while (waiting()) {
    try {
      await followEvents('/v1/queue/tokens/current/events', credentials, (name, data) => {
        if (name === 'token' && run === state.lineRun) {
          current = data;
          renderTicket(current);
          breaks = 0;
        }
      });
    } catch (error) {
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) throw error;
      current = await pollOnce(credentials);
      renderTicket(current);
      if (error instanceof ApiError && error.status === 503) {
        const until = Date.now() + 30000;
        while (waiting() && Date.now() < until) {
          await sleep((current.retryAfter || 1) * 1000);
          current = await pollOnce(credentials);
          renderTicket(current);
        }
      } else {
        breaks += 1;
        await sleep(Math.min(250 * 2 ** breaks, 5000));
      }
    }
  }
  if (run !== state.lineRun) return;
  if (current.status === 'active') {
    await showBooking(current);
  } else if (current.status === 'expired') {
    store.ticket = null;
    await showConcerts();
  }
}

async function pollOnce(credentials) {
  const response = await fetch('/v1/queue/tokens/current', {
    headers: { Authorization: `Bearer ${credentials.bearer}`, 'X-Queue-Token': credentials.token, Accept: 'application/json' },
    cache: 'no-store',
  }).catch(() => null);
  if (!response) return { ...(await request('GET', '/v1/queue/tokens/current', credentials)), retryAfter: 1 };
  if (!response.ok) {
    if (response.status >= 500 || response.status === 429) return request('GET', '/v1/queue/tokens/current', credentials);
    throw new ApiError(await response.json().catch(() => ({})), response.status);
  }
  const body = await response.json();
  return { ...body, retryAfter: Number(response.headers.get('Retry-After')) || 1 };
}

// Booking.

async function showBooking(ticket) {
  show('line', true);
  show('booking', true);
  if (ticket.expiresAt) {
    every(1000, () => {
      const left = (Date.parse(ticket.expiresAt) - Date.now()) / 1000;
      $('active-until').textContent = left > 0 ? `You have ${formatDuration(left)} to book.` : 'Your turn has ended.';
    });
  }
  const { schedules } = await request('GET', `/v1/concerts/${store.ticket.concertId}/schedules`, queueAuth());
  for (const schedule of schedules) state.dates.set(schedule.id, schedule.startsAt);
  $('schedule-list').replaceChildren(...schedules.map((schedule) => {
    const button = el('button', { type: 'button', 'aria-pressed': 'false', 'aria-describedby': `seats-left-${schedule.id}` }, formatDate(schedule.startsAt));
    button.addEventListener('click', action(button, () => chooseSchedule(schedule, button)));
    const left = el('span', { id: `seats-left-${schedule.id}`, class: 'muted' }, ` ${schedule.availableSeats} of ${schedule.totalSeats} seats left · ${schedule.price} points`);
    return el('li', {}, button, left);
  }));
  if (!schedules.length) $('schedule-list').replaceChildren(el('li', { class: 'muted' }, 'No dates on sale.'));
}

function queueAuth(extra = {}) {
  return auth({ token: store.ticket.token, ...extra });
}

async function chooseSchedule(schedule, button) {
  for (const other of $('schedule-list').querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === button));
  state.schedule = schedule;
  state.seat = null;
  $('hold').disabled = true;
  show('seat-picker', true);
  await refreshSeats();
  state.stopSeatRefresh?.();
  state.stopSeatRefresh = every(3000, () => refreshSeats().catch(() => {}));
}

async function refreshSeats() {
  const schedule = state.schedule;
  if (!schedule) return;
  const { seats } = await request('GET', `/v1/schedules/${schedule.id}/seats`, queueAuth());
  if (state.schedule !== schedule) return;
  const map = $('seat-map');
  const buttons = seats.map((seat) => {
    const taken = seat.status !== 'available';
    if (taken && state.seat === seat.seatNo && !state.hold) {
      state.seat = null;
      $('hold').disabled = true;
    }
    const chosen = state.seat === seat.seatNo;
    const button = el('button', {
      type: 'button', class: `seat ${taken ? 'taken' : chosen ? 'chosen' : 'available'}`,
      'aria-pressed': String(chosen), disabled: taken, 'data-seat': seat.seatNo,
    }, `Seat ${seat.seatNo}`);
    button.addEventListener('click', () => chooseSeat(seat.seatNo));
    return button;
  });
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.seat : undefined;
  map.replaceChildren(...buttons);
  if (focused) map.querySelector(`[data-seat="${focused}"]`)?.focus();
}

function chooseSeat(seatNo) {
  state.seat = seatNo;
  for (const button of $('seat-map').querySelectorAll('button')) {
    const chosen = Number(button.dataset.seat) === seatNo;
    button.setAttribute('aria-pressed', String(chosen));
    if (!button.disabled) button.className = `seat ${chosen ? 'chosen' : 'available'}`;
  }
  $('hold').disabled = false;
}

async function hold() {
  if (!state.schedule || !state.seat) return;
  const body = { scheduleId: state.schedule.id, seatNo: state.seat };
  try {
    state.hold = await request('POST', '/v1/reservations', queueAuth({ body, idempotencyKey: newIdempotencyKey() }));
  } catch (error) {
    await refreshSeats().catch(() => {});
    throw error;
  }
  state.payKey = newIdempotencyKey();
  $('hold-text').textContent = `Seat ${state.hold.seatNo} on ${formatDate(state.schedule.startsAt)} is yours for now: ${state.hold.price} points.`;
  state.stopHoldClock?.();
  const tick = () => {
    const left = (Date.parse(state.hold.holdExpiresAt) - Date.now()) / 1000;
    $('hold-countdown').textContent = left > 0 ? `Hold ends in ${formatDuration(left)}` : 'The hold has ended.';
  };
  tick();
  state.stopHoldClock = every(1000, tick);
  show('seat-picker', false);
  show('hold-box', true);
  await refreshReservations();
}

async function pay() {
  const payment = await request('POST', '/v1/payments', queueAuth({ body: { reservationId: state.hold.reservationId }, idempotencyKey: state.payKey }));
  for (const id of state.timers) clearInterval(id);
  state.timers.clear();
  $('balance').textContent = `Balance: ${payment.balance} points`;
  $('booked-text').textContent = `Seat ${state.hold.seatNo} on ${formatDate(state.schedule.startsAt)}, ${payment.amount} points. Payment ${payment.paymentId}.`;
  store.ticket = null;
  state.hold = null;
  state.schedule = null;
  show('hold-box', false);
  show('booking', false);
  show('line', false);
  show('booked', true);
  await refreshReservations();
}

// My reservations.

async function refreshReservations() {
  const { reservations } = await request('GET', '/v1/reservations', auth());
  $('reservation-list').replaceChildren(...reservations.map((r) => {
    const date = state.dates.has(r.scheduleId) ? formatDate(state.dates.get(r.scheduleId)) : `date ${r.scheduleId}`;
    const item = el('li', {}, `Seat ${r.seatNo} · ${date} · ${r.price} points · ${r.status}`);
    if (r.status === 'held') {
      const cancel = el('button', { type: 'button', 'aria-label': `Cancel seat ${r.seatNo}` }, 'Cancel');
      cancel.addEventListener('click', action(cancel, async () => {
        await request('DELETE', `/v1/reservations/${r.reservationId}`, auth({ retry: true }));
        if (state.hold && state.hold.reservationId === r.reservationId) {
          state.hold = null;
          show('hold-box', false);
          show('seat-picker', true);
          await refreshSeats();
        }
        await refreshReservations();
      }));
      item.append(' ', cancel);
    }
    return item;
  }));
  show('mine', reservations.length > 0);
}

// Start.

async function start() {
  const user = store.user;
  show('signup', !user);
  if (!user) return;
  $('who').textContent = `Signed in as ${user.name}`;
  show('wallet', true);
  await Promise.all([refreshBalance(), refreshReservations()]);
  const ticket = store.ticket;
  if (ticket) {
    try {
      const current = await request('GET', '/v1/queue/tokens/current', auth({ token: ticket.token }));
      if (current.status === 'waiting' || current.status === 'active') return followLine(current);
    } catch { /* a token this server does not know: back to the concerts */ }
    store.ticket = null;
  }
  await showConcerts();
}

$('signup-form').addEventListener('submit', action($('signup-form').querySelector('button'), signUp));
$('charge-form').addEventListener('submit', action($('charge-form').querySelector('button'), charge));
$('hold').addEventListener('click', action($('hold'), hold, () => state.seat !== null && !state.hold));
$('pay').addEventListener('click', action($('pay'), pay));
$('again').addEventListener('click', action($('again'), async () => { show('booked', false); await showConcerts(); }));
start().catch(alertError);
