// The booking page (/book/{serviceId}) and, in an iframe, the widget (/embed/{serviceId}).
import { ApiError, Live, request } from "./gql.js";
import { $, announce, clear, clock, detectedZone, el, fieldError, longDate, money, newId, showError, zoneSelect } from "./dom.js";
import { Picker } from "./picker.js";
import { confirmation, PENDING_KEY } from "./confirmation.js";
import { questionFields, readAnswers } from "./questions.js";

const SERVICE = `query Page($id: ID!) {
  service(id: $id) { id title durations { minutes price { amountMinor currency } }
    questions { id prompt type options required }
    tutors { id displayName avatarUrl bio rating reviewCount studentsTaught } }
  viewer { student { id displayName email } } }`;
const BOOKED = `id status durationMinutes checkoutUrl icsUrl price { amountMinor currency }
  service { title } tutor { displayName }`;
const CREATE = `mutation Book($input: CreateBookingInput!, $zone: TimeZone!) {
  createBooking(input: $input) { __typename
    ... on BookingCreated { manageToken booking { ${BOOKED} start(timeZone: $zone) end(timeZone: $zone) } }
    ... on SlotUnavailable { message alternatives { start end durationMinutes price { amountMinor currency } tutor { id displayName } } }
    ... on InvalidInput { message field }
    ... on UserError { message } } }`;
const FUNNEL = `mutation Funnel($events: [FunnelEventInput!]!) {
  recordFunnelEvents(events: $events) { __typename } }`;
const WAITLIST = `mutation Wait($input: JoinWaitlistInput!) {
  joinWaitlist(input: $input) { __typename ... on UserError { message } } }`;
const SLOT_EVENTS = `subscription Slots($tutorId: ID!) { slotEvents(tutorId: $tutorId) { kind serviceId start end } }`;

const params = new URLSearchParams(location.search);
const serviceId = decodeURIComponent(location.pathname.split("/")[2] || "");
const embedded = location.pathname.startsWith("/embed/");
const token = sessionStorage.getItem("booking-api-student-token");
const visitId = newId();
const app = $("#app");
const state = { zone: detectedZone(), duration: null, slot: null, key: null };

if (embedded) import("./frame.js");

function funnel(step) {
  const event = { step, visitId, serviceId, tutorId: params.get("tutor") };
  request(FUNNEL, { events: [event] }, token).catch(() => {});
}

function tutorCard(tutor) {
  const rating = tutor.rating === null ? "No reviews yet"
    : `Rated ${tutor.rating.toFixed(1)} of 5 (${tutor.reviewCount} reviews)`;
  return el("header", { class: "tutor" },
    tutor.avatarUrl ? el("img", { src: tutor.avatarUrl, alt: "", width: "64", height: "64" }) : null,
    el("div", {},
      el("h1", { id: "tutor-name" }, tutor.displayName),
      tutor.bio ? el("p", { class: "bio" }, tutor.bio) : null,
      el("p", { class: "muted" }, `${rating} · ${tutor.studentsTaught} students taught`)));
}

function durations(service) {
  state.duration = service.durations[0] ? service.durations[0].minutes : null;
  if (service.durations.length < 2) return null;
  return el("fieldset", { class: "durations" }, el("legend", {}, "Length"),
    service.durations.map((option, index) => el("label", {},
      el("input", { type: "radio", name: "duration", value: option.minutes, checked: index === 0,
        onchange: () => { state.duration = option.minutes; restart(); } }),
      ` ${option.minutes} minutes · ${money(option.price)}`)));
}

let picker;
let service;
let viewer;

function restart() {
  picker = new Picker($("#picker"), {
    serviceId, tutorId: params.get("tutor"), duration: state.duration, zone: state.zone, token,
    onPick: pick, onDate: () => funnel("DATE_SELECTED"),
  });
  clear($("#form"));
  picker.start().then(waitlistOffer).catch((error) => showError($("#picker"), error.message));
}

function waitlistOffer() {
  if (picker.days.size || picker.next) return;
  const slot = el("div", { id: "waitlist" });
  if (!viewer) {
    slot.append(el("p", { class: "muted" }, "No free time in the next weeks. Sign in to join the waitlist."));
  } else {
    const join = async () => {
      const from = new Date();
      const to = new Date(from.getTime() + 31 * 86400000);
      const input = { serviceId, tutorId: params.get("tutor"), from: from.toISOString(), to: to.toISOString(), durationMinutes: state.duration };
      const result = (await request(WAITLIST, { input }, token)).joinWaitlist;
      clear(slot, el("p", { role: "status" }, result.__typename === "WaitlistJoined"
        ? "You are on the waitlist: we will email you when time comes free." : result.message));
    };
    slot.append(el("button", { type: "button", onclick: join }, "Join the waitlist"));
  }
  $("#picker").append(slot);
}

function field(name, label, attrs = {}) {
  const id = `f-${name}`;
  return el("div", { class: "field" },
    el("label", { for: id }, label),
    el("input", { id, name, "data-field": `input.guest.${name}`, "aria-describedby": `${id}-error`, ...attrs }),
    el("div", { id: `${id}-error`, class: "field-error" }));
}

function pick(slot) {
  state.slot = slot;
  state.key = newId();
  funnel("TIME_SELECTED");
  const form = el("form", { id: "booking-form", novalidate: true, onsubmit: submit },
    el("h2", {}, "Your booking"),
    el("p", { id: "chosen" }, `${longDate(slot.start, state.zone)}, ${clock(slot.start, state.zone)}–${clock(slot.end, state.zone)} (${state.zone})`,
      slot.tutor ? ` with ${slot.tutor.displayName}` : "", slot.price ? ` · ${money(slot.price)}` : ""),
    el("button", { type: "button", class: "link", onclick: () => { clear($("#form")); $("#times button")?.focus(); } }, "Choose another time"),
    questionFields(service.questions),
    viewer ? el("p", {}, `Booking as ${viewer.displayName} (${viewer.email})`) : el("fieldset", {},
      el("legend", {}, "Your details"),
      field("name", "Name", { autocomplete: "name", required: true }),
      field("email", "Email", { type: "email", autocomplete: "email", required: true }),
      field("phone", "Phone (optional)", { type: "tel", autocomplete: "tel" })),
    el("div", { id: "form-error" }),
    el("button", { type: "submit", class: "primary" }, slot.price ? "Book and pay" : "Book"));
  clear($("#form"), form);
  form.querySelector("input, select, textarea, button").focus();
}

async function submit(event) {
  event.preventDefault();
  const form = event.target;
  for (const slot of form.querySelectorAll(".field-error")) clear(slot);
  showError($("#form-error"), null);
  const input = {
    serviceId, tutorId: params.get("tutor"), start: state.slot.start, timeZone: state.zone,
    durationMinutes: state.slot.durationMinutes, idempotencyKey: state.key, visitId,
    answers: readAnswers(form, service.questions),
  };
  if (!viewer) {
    input.guest = { name: form.elements.name.value, email: form.elements.email.value,
      phone: form.elements.phone.value || null };
  }
  funnel("BOOKING_STARTED");
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const result = (await request(CREATE, { input, zone: state.zone }, token)).createBooking;
    refused(result) || booked(result, input);
  } catch (error) {
    showError($("#form-error"), error instanceof ApiError ? error.message : String(error));
  } finally {
    button.disabled = false;
  }
}

function refused(result) {
  if (result.__typename === "BookingCreated") return false;
  state.key = newId();
  const slot = result.__typename === "InvalidInput" && fieldError(app, result.field);
  if (slot) {
    showError(slot, result.message);
    slot.closest(".field").querySelector("input, select, textarea").focus();
    return true;
  }
  showError($("#form-error"), result.message);
  if (result.__typename === "SlotUnavailable") {
    $("#form-error").append(el("ul", { class: "times", "aria-label": "Other times" },
      result.alternatives.map((slot) => el("li", {}, el("button", { type: "button", class: "time",
        "data-start": slot.start, onclick: () => pick(slot) },
        `${longDate(slot.start, state.zone)} ${clock(slot.start, state.zone)}`)))));
    picker.refresh();
  }
  return true;
}

function booked(result, input) {
  const booking = result.booking;
  const pending = { id: booking.id, token: result.manageToken, zone: state.zone, email: input.guest && input.guest.email };
  if (booking.status === "PENDING_PAYMENT" && booking.checkoutUrl) {
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    announce("Taking you to the payment page.");
    location.assign(booking.checkoutUrl);
    return;
  }
  state.done = true;
  clear(app, confirmation(booking, pending));
  $("#confirmation h1").focus();
}

async function main() {
  let data;
  try {
    data = await request(SERVICE, { id: serviceId }, token);
  } catch (error) {
    clear(app, el("p", { class: "error", role: "alert" }, error.message));
    return;
  }
  service = data.service;
  viewer = data.viewer.student;
  app.removeAttribute("aria-busy");
  if (!service) {
    clear(app, el("h1", {}, "This booking page does not exist."));
    return;
  }
  const tutor = service.tutors.find((t) => t.id === params.get("tutor")) || service.tutors[0];
  document.title = `Book ${service.title}`;
  clear(app,
    tutor ? tutorCard(tutor) : null,
    el("h2", { id: "service-title" }, service.title),
    durations(service),
    zoneSelect(state.zone, (zone) => { state.zone = zone; restart(); }),
    el("section", { id: "picker", "aria-label": "Choose a day and time" }),
    el("section", { id: "form" }));
  restart();
  funnel("PAGE_VIEW");
  // A time others took, announced; or the visitor's own choice gone.
  const fresh = async () => {
    if (state.done) return;
    const gone = await picker.refresh();
    if (state.slot && gone && gone.includes(state.slot.start) && $("#booking-form")) {
      showError($("#form-error"), "Someone else just booked this time. Choose another.");
    }
  };
  const live = new Live({ onResync: fresh, onState: (s) => (document.body.dataset.live = s) });
  for (const t of service.tutors) live.subscribe(SLOT_EVENTS, { tutorId: t.id }, fresh);
}

main();
