// The tutor's dashboard: bookings in tabs, actions, today and tomorrow, live from bookingEvents.
import { ApiError, Live, request } from "./gql.js";
import { $, announce, clear, clock, el, longDate, showError } from "./dom.js";
import { localDay, Picker } from "./picker.js";
import { hours } from "./hours.js";
import { agenda } from "./agenda.js";

const KEY = "booking-api-dashboard-token";
const VIEWER = `{ viewer { tutor { id displayName timeZone
  organization { id name members { role tutor { id displayName } } } } } }`;
const ROW = `id status start end durationMinutes studentTimeZone cancellationReason
  service { id title } tutor { id displayName } student { displayName email }`;
const LIST = `query List($filter: BookingFilter, $after: String, $order: BookingOrder) {
  bookings(filter: $filter, first: 20, after: $after, orderBy: $order) {
    asOf totalCount pageInfo { hasNextPage endCursor } edges { node { ${ROW} } } } }`;
const ERRORS = "... on UserError { message }";
const ATTEND = `mutation Attend($input: MarkAttendanceInput!) { markAttendance(input: $input) { __typename ${ERRORS} } }`;
const CANCEL = `mutation Cancel($input: CancelBookingInput!) { cancelBooking(input: $input) { __typename ${ERRORS} } }`;
const MOVE = `mutation Move($input: RescheduleBookingInput!) { rescheduleBooking(input: $input) { __typename ${ERRORS} } }`;
const EVENT = `{ action at booking { ${ROW} } }`;
const MINE = `subscription Mine($tutorId: ID!, $since: DateTime) { bookingEvents(tutorId: $tutorId, since: $since) ${EVENT} }`;
const ORG = `subscription Org($organizationId: ID!, $since: DateTime) {
  organizationBookingEvents(organizationId: $organizationId, since: $since) ${EVENT} }`;

const TABS = [
  { id: "upcoming", label: "Upcoming", filter: { range: "UPCOMING", status: ["CONFIRMED", "PENDING_PAYMENT"] }, order: "START_ASC" },
  { id: "pending", label: "Pending payment", filter: { status: ["PENDING_PAYMENT"] }, order: "START_ASC" },
  { id: "past", label: "Past", filter: { range: "PAST" }, order: "START_DESC" },
  { id: "cancelled", label: "Cancelled", filter: { status: ["CANCELLED", "EXPIRED"] }, order: "START_DESC" },
];
const STATUS = {
  PENDING_PAYMENT: "Pending payment", CONFIRMED: "Confirmed", COMPLETED: "Completed",
  CANCELLED: "Cancelled", NO_SHOW: "No-show", EXPIRED: "Expired",
};
const ACTIONS = { CREATED: "New booking", CONFIRMED: "Paid", RESCHEDULED: "Moved", CANCELLED: "Cancelled",
  COMPLETED: "Completed", NO_SHOW: "No-show", EXPIRED: "Expired" };

const app = $("#app");
// `since`: where a (re)subscription resumes, the later of the last list's asOf and the last
// event's at; `seen`: events already shown, as a resumed subscription may send some again.
const state = { tab: TABS[0], search: "", tutorId: null, zoneMode: "tutor", rows: [], after: null, since: null, seen: new Set() };
const later = (a, b) => (a && Date.parse(a) > Date.parse(b) ? a : b);
let token = sessionStorage.getItem(KEY);
let me;

const call = (query, variables) => request(query, variables, token);
const zoneOf = (booking) => (state.zoneMode === "tutor" ? me.timeZone : booking.studentTimeZone);
const span = (b) => `${longDate(b.start, zoneOf(b))}, ${clock(b.start, zoneOf(b))}–${clock(b.end, zoneOf(b))}`;

function signIn(message) {
  app.removeAttribute("aria-busy");
  const form = el("form", { id: "sign-in", onsubmit: (event) => {
    event.preventDefault();
    token = form.elements.token.value.trim();
    sessionStorage.setItem(KEY, token);
    start();
  } },
    el("h1", {}, "Your bookings"),
    el("p", {}, "Paste the access token your platform gave you. It stays in this tab only."),
    el("div", { class: "field" }, el("label", { for: "token" }, "Access token"),
      el("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true })),
    message ? el("p", { class: "error", role: "alert" }, message) : null,
    el("button", { type: "submit", class: "primary" }, "Open dashboard"));
  clear(app, form);
}

function toast(text) {
  const item = el("div", { class: "toast", role: "status" }, text);
  $("#toasts").append(item);
  setTimeout(() => item.remove(), 6000);
}

function filter(extra = {}) {
  return { ...state.tab.filter, search: state.search || null, tutorId: state.tutorId, ...extra };
}

async function loadList(more = false) {
  const data = await call(LIST, { filter: filter(), after: more ? state.after : null, order: state.tab.order });
  const page = data.bookings;
  state.since = later(state.since, page.asOf);
  state.rows = more ? [...state.rows, ...page.edges.map((e) => e.node)] : page.edges.map((e) => e.node);
  state.after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  renderList(page.totalCount);
}

function renderList(total) {
  const panel = $("#panel");
  panel.removeAttribute("aria-busy");
  const rows = state.rows.map(row);
  clear(panel,
    el("p", { class: "muted", id: "count" }, `${total} bookings`),
    rows.length ? el("table", {}, el("thead", {}, el("tr", {},
      ["When", "Student", "Service", "Status", "Actions"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows)) : el("p", {}, "No bookings here."),
    state.after ? el("button", { type: "button", onclick: () => loadList(true) }, "Load more") : null);
}

function row(b) {
  const errors = el("div", { class: "row-error" });
  const actions = el("div", { class: "actions" });
  const started = new Date(b.start) <= new Date();
  const act = async (query, input, done) => {
    try {
      const result = Object.values(await call(query, { input }))[0];
      if (result.__typename.startsWith("Booking") || result.__typename === "AttendanceMarked") {
        announce(done);
        toast(done);
        await refresh();
      } else showError(errors, result.message);
    } catch (error) {
      showError(errors, error instanceof ApiError ? error.message : String(error));
    }
  };
  if (b.status === "CONFIRMED" && started) {
    actions.append(
      el("button", { type: "button", onclick: () => act(ATTEND, { bookingId: b.id, status: "COMPLETED" }, "Marked completed") }, "Completed"),
      el("button", { type: "button", onclick: () => act(ATTEND, { bookingId: b.id, status: "NO_SHOW" }, "Marked no-show") }, "No-show"));
  }
  if (["CONFIRMED", "PENDING_PAYMENT"].includes(b.status) && !started) {
    const reasonId = `reason-${b.id}`;
    const cancelForm = el("form", { hidden: true, onsubmit: (event) => {
      event.preventDefault();
      act(CANCEL, { bookingId: b.id, reason: cancelForm.elements.reason.value.trim() || null }, "Booking cancelled");
    } }, el("label", { for: reasonId }, "Reason"), el("input", { id: reasonId, name: "reason" }),
      el("button", { type: "submit" }, "Confirm cancel"));
    const holder = el("div", { hidden: true });
    actions.append(
      el("button", { type: "button", onclick: () => { cancelForm.hidden = false; cancelForm.elements.reason.focus(); } }, "Cancel"),
      el("button", { type: "button", onclick: () => {
        holder.hidden = false;
        new Picker(holder, { serviceId: b.service.id, tutorId: b.tutor.id, duration: b.durationMinutes,
          zone: zoneOf(b), token, onPick: (slot) => act(MOVE, { bookingId: b.id, newStart: slot.start }, "Booking moved") }).start();
      } }, "Reschedule"),
      cancelForm, holder);
  }
  return el("tr", { "data-booking": b.id },
    el("td", {}, span(b), state.tutorId === null && me.organization ? el("div", { class: "muted" }, b.tutor.displayName) : null),
    el("td", {}, b.student.displayName, el("div", { class: "muted" }, b.student.email)),
    el("td", {}, b.service.title),
    el("td", {}, el("span", { class: "badge", "data-status": b.status }, STATUS[b.status]),
      b.cancellationReason ? el("div", { class: "muted" }, b.cancellationReason) : null),
    el("td", {}, actions, errors));
}

async function loadSoon() {
  const now = Date.now();
  const data = await call(LIST, { filter: { tutorId: state.tutorId, status: ["CONFIRMED", "PENDING_PAYMENT"],
    from: new Date(now - 86400000).toISOString(), to: new Date(now + 2 * 86400000).toISOString() }, order: "START_ASC" });
  const today = localDay(new Date(), me.timeZone);
  const tomorrow = localDay(new Date(now + 86400000), me.timeZone);
  const list = (day) => data.bookings.edges.map((e) => e.node).filter((b) => localDay(b.start, me.timeZone) === day)
    .map((b) => el("li", {}, `${clock(b.start, zoneOf(b))} ${b.service.title} · ${b.student.displayName}`));
  const section = (title, items) => el("div", {}, el("h3", {}, title),
    items.length ? el("ul", {}, items) : el("p", { class: "muted" }, "Nothing booked."));
  clear($("#soon"), el("h2", {}, "Today and tomorrow"), section("Today", list(today)), section("Tomorrow", list(tomorrow)));
}

function refresh() {
  const side = $("#agenda");
  return Promise.all([loadList(), loadSoon(), side ? agenda(side, token, me.organization, me.timeZone) : null]);
}

function tabs() {
  const list = el("div", { class: "tabs", role: "tablist", "aria-label": "Bookings", onkeydown: (event) => {
    const index = TABS.indexOf(state.tab);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = TABS[(index + step + TABS.length) % TABS.length];
    choose(next);
    $(`#tab-${next.id}`).focus();
  } }, TABS.map((tab) => el("button", {
    type: "button", role: "tab", id: `tab-${tab.id}`, "aria-controls": "panel",
    "aria-selected": String(tab === state.tab), tabindex: tab === state.tab ? "0" : "-1",
    onclick: () => choose(tab),
  }, tab.label)));
  return list;
}

function choose(tab) {
  state.tab = tab;
  for (const t of TABS) {
    const button = $(`#tab-${t.id}`);
    button.setAttribute("aria-selected", String(t === tab));
    button.tabIndex = t === tab ? 0 : -1;
  }
  $("#panel").setAttribute("aria-labelledby", `tab-${tab.id}`);
  loadList();
}

function controls() {
  const org = me.organization;
  const mine = org && org.members.find((m) => m.tutor.id === me.id);
  const manager = mine && ["OWNER", "ADMIN"].includes(mine.role);
  let timer;
  return el("div", { class: "controls" },
    manager ? el("p", {}, el("label", { for: "member" }, "Bookings of "), el("select", { id: "member", onchange: (event) => {
      state.tutorId = event.target.value || null;
      refresh();
    } }, el("option", { value: "" }, `Everyone at ${org.name}`),
      org.members.map((m) => el("option", { value: m.tutor.id, selected: m.tutor.id === me.id }, m.tutor.displayName)))) : null,
    el("div", { class: "field" }, el("label", { for: "search" }, "Search by student name or email"),
      el("input", { id: "search", type: "search", oninput: (event) => {
        clearTimeout(timer);
        timer = setTimeout(() => { state.search = event.target.value.trim(); loadList(); }, 300);
      } })),
    el("fieldset", {}, el("legend", {}, "Times in"),
      [["tutor", `your zone (${me.timeZone})`], ["student", "the student's zone"]].map(([mode, label]) =>
        el("label", {}, el("input", { type: "radio", name: "zone-mode", value: mode, checked: mode === state.zoneMode,
          onchange: () => { state.zoneMode = mode; refresh(); } }), ` ${label} `))));
}

async function start() {
  let data;
  try {
    data = await call(VIEWER);
  } catch (error) {
    return signIn(error.message);
  }
  me = data.viewer.tutor;
  if (!me) return signIn("This token is not a tutor's.");
  const org = me.organization;
  const mine = org && org.members.find((m) => m.tutor.id === me.id);
  state.tutorId = me.id;
  app.removeAttribute("aria-busy");
  clear(app,
    el("div", { class: "month-head" }, el("h1", {}, `${me.displayName}'s bookings`),
      el("p", { id: "live-note", class: "muted", role: "status" }),
      el("button", { type: "button", onclick: () => { sessionStorage.removeItem(KEY); location.reload(); } }, "Sign out")),
    el("section", { id: "soon", "aria-label": "Today and tomorrow" }),
    controls(), tabs(),
    el("section", { id: "panel", role: "tabpanel", "aria-labelledby": `tab-${state.tab.id}`, "aria-busy": "true" },
      el("div", { class: "skeleton", "aria-hidden": "true" })),
    mine && ["OWNER", "ADMIN"].includes(mine.role) ? el("section", { id: "agenda", "aria-label": "Everyone's agenda" }) : null,
    el("section", { id: "hours", "aria-label": "Your hours" }));
  await Promise.all([refresh(), hours($("#hours"), token)]);
  // Live updates were interrupted (our socket, or the server's broker): the lists are fetched
  // again once the subscription is back, then events apply as before.
  const note = $("#live-note");
  const resync = async () => {
    try {
      await refresh();
      note.textContent = "Reconnected: up to date.";
    } catch (error) {
      note.textContent = `Reconnected, but the bookings could not be refreshed: ${error.message}`;
    }
  };
  const onState = (s) => {
    document.body.dataset.live = s;
    if (s === "offline") note.textContent = "Reconnecting…";
    if (s === "refused") note.textContent = "Live updates stopped: the server no longer accepts this access token. Sign out, then in again.";
  };
  const live = new Live({ token, onResync: resync, onState });
  const opened = state.since;
  const onEvent = (data) => {
    const event = data.bookingEvents || data.organizationBookingEvents;
    const b = event.booking;
    state.since = later(state.since, event.at);
    const key = `${event.action} ${b.id} ${event.at}`;
    if (state.seen.has(key)) return;
    if (state.seen.size > 1000) state.seen.clear();
    state.seen.add(key);
    // A change from before the page opened (a resume reads back a minute before its list) is
    // no news: no toast, and no refetch when the list already shows the booking as it is.
    if (Date.parse(event.at) < Date.parse(opened)) {
      const shown = state.rows.find((row) => row.id === b.id);
      if (!shown || shown.status !== b.status || shown.start !== b.start) refresh();
      return;
    }
    toast(`${ACTIONS[event.action]}: ${b.student.displayName}, ${span(b)}`);
    refresh();
  };
  const onError = (message) => toast(`Live updates stopped: ${message}`);
  if (mine && ["OWNER", "ADMIN"].includes(mine.role)) live.subscribe(ORG, () => ({ organizationId: org.id, since: state.since }), onEvent, onError);
  else live.subscribe(MINE, () => ({ tutorId: me.id, since: state.since }), onEvent, onError);
}

if (token) start();
else signIn();
