"""The fans' app and the operators' console in a real browser (Debian's Chromium, Python Playwright),
against a real stack started by scripts/browser-tests.sh. Controls are found by role and accessible
name, as API.md's *Web pages* names them; checks go through the HTTP API."""

import datetime
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect, sync_playwright

URL = os.environ["STAGEDOOR_URL"]
ADMIN_KEY = os.environ["ADMIN_KEY"]
SHOTS = os.environ["BROWSER_SHOTS"]
PHONE = {"width": 390, "height": 844}


def api(method, path, bearer=None, token=None, body=None, key=None):
    """One API call: (status, JSON body)."""
    headers = {"Accept": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if token:
        headers["X-Queue-Token"] = token
    if key:
        headers["Idempotency-Key"] = key
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(URL + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode() or "null")


def admin(method, path, body=None):
    """An operator call; a 502 (nginx met a gateway a test killed) is sent again, as a client would."""
    for _ in range(5):
        status, answer = api(method, path, bearer=ADMIN_KEY, body=body)
        if status != 502:
            break
    assert status < 300, (status, answer)
    return answer


def gateways(command, n):
    """Kills or starts gateway n (1 or 2) behind the test's nginx."""
    subprocess.run([os.environ["BROWSER_GATEWAYS"], command, str(n)], check=True)


def new_concert(title, seats=12):
    """A concert with two dates a month ahead, in room 1 unless moved."""
    day = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=30)
    schedules = [{"startsAt": f"{day + datetime.timedelta(days=n)}T19:00:00Z", "price": 5000, "seats": seats} for n in range(2)]
    return admin("POST", "/v1/admin/concerts", {"title": title, "artist": "The Testers", "schedules": schedules})


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield browser
        browser.close()


class Tab:
    """A page in its own browser context, whose uncaught errors fail the test, with numbered screenshots."""

    def __init__(self, browser, test, name, viewport=None):
        self.context = browser.new_context(viewport=viewport or {"width": 1100, "height": 900})
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        # A refused script or style (the Content-Security-Policy) or a JavaScript error logged as one;
        # a failed request's "Failed to load resource" line is the app's business (an expected 409).
        self.page.on("console", lambda message: self.errors.append(f"console: {message.text}")
                     if message.type == "error" and "Failed to load resource" not in message.text else None)
        self.prefix = f"{test}-{name}"
        self.step = 0

    def shot(self, what):
        self.step += 1
        self.page.screenshot(path=os.path.join(SHOTS, f"{self.prefix}-{self.step:02d}-{what}.png"), full_page=True)

    def close(self):
        self.context.close()
        assert not self.errors, self.errors


@pytest.fixture
def tabs(browser, request):
    opened = []

    def open_tab(name, viewport=None):
        tab = Tab(browser, request.node.name, name, viewport)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.shot("end")
        tab.close()


def sign_up(tab, name, points=20000):
    page = tab.page
    page.goto(URL + "/")
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Balance: 0 points")).to_be_visible()
    page.get_by_role("spinbutton", name="Points").fill(str(points))
    page.get_by_role("button", name="Charge").click()
    expect(page.get_by_text(f"Balance: {points} points")).to_be_visible()
    return page.evaluate("JSON.parse(localStorage.getItem('stagedoor.user')).apiKey")


def join(tab, title):
    card = tab.page.get_by_role("listitem").filter(has=tab.page.get_by_role("heading", name=title))
    card.get_by_role("button", name="Join the line").click()


def pick_first_date(page):
    page.get_by_role("list", name="Dates").get_by_role("button").first.click()


def hold_a_seat(tab, title, name, seat):
    """A new fan on a new concert, through the line to a hold on `seat`; answers the fan's API key."""
    new_concert(title)
    page = tab.page
    key = sign_up(tab, name)
    join(tab, title)
    expect(page.get_by_role("status")).to_have_text("It's your turn", timeout=20000)
    pick_first_date(page)
    page.get_by_role("group", name="Seats").get_by_role("button", name=f"Seat {seat}", exact=True).click()
    page.get_by_role("button", name="Hold seat").click()
    expect(page.get_by_role("button", name="Pay")).to_be_visible()
    return key


def console_sign_in(page):
    page.goto(URL + "/admin")
    page.get_by_label("Admin key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_fan_books_a_seat_through_the_line(tabs, screen):
    title = f"Night of {uuid.uuid4().hex[:6]}"
    new_concert(title)
    tab = tabs("fan", viewport=PHONE if screen == "phone" else None)
    page = tab.page
    key = sign_up(tab, "Ada")
    tab.shot("signed-up")
    join(tab, title)
    expect(page.get_by_role("status")).to_have_text("It's your turn", timeout=20000)
    pick_first_date(page)
    seats = page.get_by_role("group", name="Seats")
    expect(seats.get_by_role("button", name="Seat 7", exact=True)).to_be_enabled()
    seats.get_by_role("button", name="Seat 7", exact=True).click()
    expect(seats.get_by_role("button", name="Seat 7", exact=True)).to_have_attribute("aria-pressed", "true")
    tab.shot("seat-chosen")
    page.get_by_role("button", name="Hold seat").click()
    expect(page.get_by_text(re.compile(r"Hold ends in \d+:\d\d"))).to_be_visible()
    tab.shot("held")
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_role("heading", name="Booked")).to_be_visible()
    expect(page.get_by_text("Balance: 15000 points")).to_be_visible()
    tab.shot("booked")

    status, mine = api("GET", "/v1/reservations", bearer=key)
    assert status == 200
    assert [(r["seatNo"], r["status"]) for r in mine["reservations"]] == [(7, "paid")]
    status, points = api("GET", "/v1/points", bearer=key)
    assert points["balance"] == 15000
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_page_keeps_working_when_its_gateway_dies(tabs):
    title = f"Failover {uuid.uuid4().hex[:6]}"
    concert = new_concert(title)
    opens = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    room = admin("POST", "/v1/admin/rooms", {"name": title, "concertIds": [concert["id"]], "opensAt": opens})
    tab = tabs("fan")
    page = tab.page
    key = sign_up(tab, "Barbara")
    join(tab, title)
    status = page.get_by_role("status")
    expect(status).to_have_text("Waiting for the sale to open")
    try:
        # Each gateway dies in turn (SIGKILL) while the page waits on its stream through nginx: the
        # stream breaks, the page polls through the other gateway, then listens again.
        for n in (1, 2):
            gateways("kill", n)
            page.wait_for_timeout(1500)
            gateways("start", n)
        admin("PATCH", f"/v1/admin/rooms/{room['roomId']}", {"state": "open"})
        expect(status).to_have_text("It's your turn", timeout=20000)
        # One gateway dead for the rest: the page's writes that meet it (nginx answers 502 and does
        # not resend a POST) are sent again by the page, with the same Idempotency-Key.
        gateways("kill", 1)
        pick_first_date(page)
        page.get_by_role("group", name="Seats").get_by_role("button", name="Seat 5", exact=True).click()
        page.get_by_role("button", name="Hold seat").click()
        page.get_by_role("button", name="Pay").click()
        expect(page.get_by_role("heading", name="Booked")).to_be_visible()
        tab.shot("booked-with-a-gateway-down")
    finally:
        gateways("start", 1)
    status_code, mine = api("GET", "/v1/reservations", bearer=key)
    assert [(r["seatNo"], r["status"]) for r in mine["reservations"]] == [(5, "paid")]
    status_code, history = api("GET", "/v1/points/history", bearer=key)
    assert [entry["kind"] for entry in history["entries"]] == ["payment", "charge"]


def test_pre_queue_then_position_then_turn_without_reload(tabs):
    title = f"Fair start {uuid.uuid4().hex[:6]}"
    concert = new_concert(title)
    opens = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    room = admin("POST", "/v1/admin/rooms", {"name": title, "concertIds": [concert["id"]], "opensAt": opens, "admitPerSecond": 5})
    tab = tabs("fan", viewport=PHONE)
    page = tab.page
    sign_up(tab, "Grace")
    expect(page.get_by_text(re.compile(r"Opens in \d+:\d\d"))).to_be_visible()
    tab.shot("countdown")
    join(tab, title)
    status = page.get_by_role("status")
    expect(status).to_have_text("Waiting for the sale to open")
    tab.shot("pre-queue")
    # The operator draws the line but holds it (paused), then lets it move: the page follows each
    # change as it is pushed, with no reload.
    admin("PATCH", f"/v1/admin/rooms/{room['roomId']}", {"state": "paused"})
    expect(status).to_have_text("Position 1", timeout=15000)
    expect(page.get_by_text("The sale is paused; you keep your place.")).to_be_visible()
    tab.shot("position")
    admin("PATCH", f"/v1/admin/rooms/{room['roomId']}", {"state": "open"})
    expect(status).to_have_text("It's your turn", timeout=15000)
    tab.shot("turn")
    # Nothing wider than a phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_two_fans_race_for_one_seat(tabs):
    title = f"Race {uuid.uuid4().hex[:6]}"
    new_concert(title)
    fans = [tabs("first"), tabs("second")]
    for tab, name in zip(fans, ["Alan", "Barbara"]):
        sign_up(tab, name)
        join(tab, title)
        expect(tab.page.get_by_role("status")).to_have_text("It's your turn", timeout=20000)
        pick_first_date(tab.page)
        tab.page.get_by_role("group", name="Seats").get_by_role("button", name="Seat 1", exact=True).click()
    # Both press at once: both clicks are dispatched before either answer is awaited.
    for tab in fans:
        tab.page.get_by_role("button", name="Hold seat").dispatch_event("click")
    winners, losers = [], []
    for tab in fans:
        pay = tab.page.get_by_role("button", name="Pay")
        alert = tab.page.get_by_role("alert")
        expect(pay.or_(alert)).to_be_visible()
        (winners if pay.is_visible() else losers).append(tab)
    assert len(winners) == 1 and len(losers) == 1, (len(winners), len(losers))
    expect(losers[0].page.get_by_role("alert")).to_contain_text("seat_unavailable")
    expect(losers[0].page.get_by_role("group", name="Seats").get_by_role("button", name="Seat 1", exact=True)).to_be_disabled()
    expect(losers[0].page.get_by_role("button", name="Hold seat")).to_be_disabled()
    losers[0].shot("refused")
    winners[0].page.get_by_role("button", name="Pay").click()
    expect(winners[0].page.get_by_role("heading", name="Booked")).to_be_visible()
    winners[0].shot("booked")


def test_a_payment_retried_after_a_lost_answer_pays_once(tabs):
    tab = tabs("fan")
    page = tab.page
    key = hold_a_seat(tab, f"Retry {uuid.uuid4().hex[:6]}", "Edsger", 3)
    # The first payment reaches the server and is done there, but its answer is lost on the way back
    # (a gateway dying after the work): the page sends it again, with the same Idempotency-Key.
    sent = []

    def lose_first_answer(route):
        sent.append(route.request.headers.get("idempotency-key"))
        if len(sent) == 1:
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/v1/payments", lose_first_answer)
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_role("heading", name="Booked")).to_be_visible()
    assert len(sent) == 2 and sent[0] == sent[1] and sent[0], sent
    status, history = api("GET", "/v1/points/history", bearer=key)
    assert [entry["kind"] for entry in history["entries"]] == ["payment", "charge"]
    tab.shot("booked-once")


def test_console_pauses_a_room_and_sets_its_rate(tabs):
    title = f"Console {uuid.uuid4().hex[:6]}"
    concert = new_concert(title)
    room = admin("POST", "/v1/admin/rooms", {"name": title, "concertIds": [concert["id"]], "admitPerSecond": 10})
    tab = tabs("operator")
    page = tab.page
    page.goto(URL + "/admin")
    page.get_by_label("Admin key").fill("wrong key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unauthorized")
    page.get_by_label("Admin key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=title, exact=True))
    expect(row).to_contain_text("open")
    tab.shot("signed-in")
    row.get_by_role("button", name="Pause").click()
    expect(row.get_by_role("cell", name="paused", exact=True)).to_be_visible()
    assert admin("GET", f"/v1/admin/rooms/{room['roomId']}")["state"] == "paused"
    row.get_by_role("spinbutton", name="Rate").fill("25")
    row.get_by_role("button", name="Set rate").click()
    expect(row.get_by_role("cell", name="25", exact=True)).to_be_visible()
    assert admin("GET", f"/v1/admin/rooms/{room['roomId']}")["admitPerSecond"] == 25
    row.get_by_role("button", name="Resume").click()
    expect(row.get_by_role("cell", name="open", exact=True)).to_be_visible()
    tab.shot("rate-set")
    # Live: a change made elsewhere shows within a refresh.
    admin("PATCH", f"/v1/admin/rooms/{room['roomId']}", {"admitPerSecond": 40})
    expect(row.get_by_role("cell", name="40", exact=True)).to_be_visible(timeout=10000)
    expect(page.get_by_role("link", name="Metrics")).to_have_attribute("href", "/metrics")


def test_console_creates_a_room_and_opens_it_now(tabs):
    title = f"Created {uuid.uuid4().hex[:6]}"
    concert = new_concert(title)
    tab = tabs("operator")
    page = tab.page
    console_sign_in(page)
    page.get_by_label("Room name").fill(title)
    page.get_by_label("Concert ids").fill(str(concert["id"]))
    page.get_by_label("Admissions per second").fill("7")
    opens = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    page.get_by_label("Opens at (UTC, empty = now)").fill(opens.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Create room").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=title, exact=True))
    expect(row.get_by_role("cell", name=re.compile(r"^scheduled \(opens "))).to_be_visible()
    tab.shot("created")
    rooms = {room["name"]: room for room in admin("GET", "/v1/admin/rooms")["rooms"]}
    assert rooms[title]["state"] == "scheduled" and rooms[title]["admitPerSecond"] == 7 and rooms[title]["concertIds"] == [concert["id"]]
    row.get_by_role("button", name="Open now").click()
    # The state cell exactly: "scheduled (opens …)" contains "open" too.
    expect(row.get_by_role("cell", name="open", exact=True)).to_be_visible()
    assert admin("GET", f"/v1/admin/rooms/{rooms[title]['roomId']}")["state"] == "open"


def test_fan_cancels_a_hold(tabs):
    tab = tabs("fan")
    page = tab.page
    key = hold_a_seat(tab, f"Cancel {uuid.uuid4().hex[:6]}", "Donald", 9)
    page.get_by_role("button", name="Cancel seat 9").click()
    expect(page.get_by_role("listitem").filter(has_text="Seat 9")).to_contain_text("cancelled")
    # The seat is free again on the map, and the reservation cancelled in the API.
    expect(page.get_by_role("group", name="Seats").get_by_role("button", name="Seat 9", exact=True)).to_be_enabled()
    tab.shot("cancelled")
    status, mine = api("GET", "/v1/reservations", bearer=key)
    assert [(r["seatNo"], r["status"]) for r in mine["reservations"]] == [(9, "cancelled")]


def test_console_retries_and_discards_dead_jobs(tabs):
    # Two dead jobs, as a worker leaves them after its last attempt.
    ids = subprocess.run([os.environ["BROWSER_PSQL"], os.environ["BROWSER_DATABASE_URL"], "-qAt", "-c", """
        INSERT INTO jobs (kind, payload, state, attempts, finished_at, last_error, response_status, response_body)
        SELECT 'reserve', '{}', 'dead', 5, now(), 'Boom: the handler threw', 503, '{}' FROM generate_series(1, 2) RETURNING id
        """], check=True, capture_output=True, text=True).stdout.split()
    retried, discarded = ids
    tab = tabs("operator")
    page = tab.page
    console_sign_in(page)
    dead = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Last error"))
    for job in ids:
        expect(dead.get_by_role("row").filter(has=page.get_by_role("rowheader", name=job, exact=True))).to_contain_text("Boom: the handler threw")
    tab.shot("dead-jobs")
    dead.get_by_role("row").filter(has=page.get_by_role("rowheader", name=retried, exact=True)).get_by_role("button", name="Retry").click()
    dead.get_by_role("row").filter(has=page.get_by_role("rowheader", name=discarded, exact=True)).get_by_role("button", name="Discard").click()
    expect(dead.get_by_role("row").filter(has=page.get_by_role("rowheader", name=discarded, exact=True))).to_have_count(0)
    expect(dead.get_by_role("row").filter(has=page.get_by_role("rowheader", name=retried, exact=True))).to_have_count(0)
    still_dead = {str(job["jobId"]) for job in admin("GET", "/v1/admin/jobs?state=dead")["jobs"]}
    assert retried not in still_dead and discarded not in still_dead
    queued = {str(job["jobId"]): job for job in admin("GET", "/v1/admin/jobs?state=queued")["jobs"]}
    # Queued again with its attempts reset (the worker may already have tried it once more).
    assert retried in queued and queued[retried]["attempts"] < 5, queued.get(retried)
    tab.shot("after")


def test_pages_are_served_with_a_strict_policy(tabs):
    for path in ["/", "/admin", "/assets/fan.js", "/assets/admin.js", "/assets/api.js", "/assets/app.css"]:
        with urllib.request.urlopen(URL + path) as response:
            policy = response.headers["Content-Security-Policy"]
            assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy, policy
            assert response.headers["Cache-Control"] == "no-cache" and response.headers["ETag"]
            etag = response.headers["ETag"]
        request = urllib.request.Request(URL + path, headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as unchanged:
            urllib.request.urlopen(request)
        assert unchanged.value.code == 304
    with urllib.request.urlopen(URL + "/assets/fan.js") as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
