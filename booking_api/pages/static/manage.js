// The guest's manage page (/manage?token=…): reschedule, cancel, the check-in form, a review.
import { request } from "./gql.js";
import { $, clear, clock, detectedZone, el, fieldError, longDate, money, showError, zoneSelect } from "./dom.js";
import { Picker } from "./picker.js";
import { questionFields, readAnswers } from "./questions.js";

const KEY = "booking-api-manage-token";
const BOOKING = `query Manage($token: String!, $zone: TimeZone!) { booking: bookingByToken(token: $token) {
  id status durationMinutes rescheduleCount formStatus icsUrl price { amountMinor currency }
  start(timeZone: $zone) end(timeZone: $zone) cancellationReason review { rating }
  service { id title cancellationNoticeHours rescheduleNoticeHours maxReschedules
    questions { id prompt type options required } }
  tutor { id displayName } } }`;
const ERRORS = `... on InvalidInput { message field } ... on UserError { message }`;
const RESCHEDULE = `mutation Move($input: RescheduleBookingInput!) { rescheduleBooking(input: $input) { __typename ${ERRORS} } }`;
const CANCEL = `mutation Cancel($input: CancelBookingInput!) { cancelBooking(input: $input) { __typename
  ... on BookingCancelled { refund { kind amount } } ... on UserError { message } } }`;
const FORM = `mutation Form($input: SubmitBookingFormInput!) { submitBookingForm(input: $input) { __typename ${ERRORS} } }`;
const REVIEW = `mutation Review($input: SubmitReviewInput!) { submitReview(input: $input) { __typename ${ERRORS} } }`;

// The token leaves the address bar (and so history, logs and shared links) at once.
const given = new URLSearchParams(location.search).get("token");
if (given) {
  sessionStorage.setItem(KEY, given);
  history.replaceState(null, "", "/manage");
}
const token = sessionStorage.getItem(KEY);
const app = $("#app");
let zone = detectedZone();
let booking;

const STATUS = {
  PENDING_PAYMENT: "Waiting for payment", CONFIRMED: "Confirmed", COMPLETED: "Completed",
  CANCELLED: "Cancelled", NO_SHOW: "Missed", EXPIRED: "Expired",
};

async function load(note) {
  const data = await request(BOOKING, { token, zone });
  booking = data.booking;
  app.removeAttribute("aria-busy");
  if (!booking) {
    clear(app, el("h1", {}, "This link does not open a booking."),
      el("p", {}, "It may have been mistyped. Use the link in your confirmation email."));
    return;
  }
  const open = ["CONFIRMED", "PENDING_PAYMENT"].includes(booking.status) && new Date(booking.start) > new Date();
  clear(app,
    el("h1", {}, `${booking.service.title} with ${booking.tutor.displayName}`),
    note ? el("p", { role: "status", id: "note" }, note) : null,
    el("p", {}, el("span", { class: "badge", id: "status" }, STATUS[booking.status])),
    el("p", { id: "when" }, `${longDate(booking.start, zone)}, ${clock(booking.start, zone)}–${clock(booking.end, zone)}`),
    zoneSelect(zone, (z) => { zone = z; load(); }),
    booking.cancellationReason ? el("p", {}, `Reason given: ${booking.cancellationReason}`) : null,
    el("p", {}, el("a", { href: booking.icsUrl }, "Add to calendar (.ics)")),
    open && booking.formStatus === "PENDING" ? checkIn() : null,
    open ? reschedule() : null,
    open ? cancel() : null,
    booking.status === "COMPLETED" && !booking.review ? review() : null);
}

function rules() {
  const s = booking.service;
  const notice = s.rescheduleNoticeHours ? `up to ${s.rescheduleNoticeHours} hours before it starts` : "until it starts";
  const limit = s.maxReschedules === null ? "" : ` (${booking.rescheduleCount} of ${s.maxReschedules} changes used)`;
  return `You can move this booking ${notice}${limit}.`;
}

function reschedule() {
  const section = el("section", { id: "reschedule", "aria-labelledby": "reschedule-title" },
    el("h2", { id: "reschedule-title" }, "Reschedule"), el("p", { class: "muted" }, rules()),
    el("div", { id: "reschedule-error" }));
  const holder = el("div", { id: "picker" });
  const start = el("button", { type: "button", onclick: () => {
    start.remove();
    section.append(holder);
    new Picker(holder, { serviceId: booking.service.id, tutorId: booking.tutor.id,
      duration: booking.durationMinutes, zone, onPick: move }).start()
      .catch((error) => showError($("#reschedule-error"), error.message));
  } }, "Choose a new time");
  section.append(start);
  return section;
}

async function move(slot) {
  const input = { token, newStart: slot.start, durationMinutes: booking.durationMinutes };
  const result = (await request(RESCHEDULE, { input })).rescheduleBooking;
  if (result.__typename === "BookingRescheduled") {
    await load(`Moved to ${longDate(slot.start, zone)}, ${clock(slot.start, zone)}.`);
    $("#note").focus();
    return;
  }
  showError($("#reschedule-error"), result.message);
}

function refundRule() {
  const s = booking.service;
  if (!booking.price) return "This booking is free: there is nothing to refund.";
  if (!s.cancellationNoticeHours) return `Cancelling refunds the ${money(booking.price)} you paid.`;
  return `Cancelling at least ${s.cancellationNoticeHours} hours before the start refunds the ${money(booking.price)} you paid; later, nothing is refunded.`;
}

function cancel() {
  const form = el("form", { id: "cancel", "aria-labelledby": "cancel-title", onsubmit: async (event) => {
    event.preventDefault();
    const input = { token, reason: form.elements.reason.value.trim() || null };
    const result = (await request(CANCEL, { input })).cancelBooking;
    if (result.__typename !== "BookingCancelled") return showError($("#cancel-error"), result.message);
    const refund = result.refund.kind === "NONE" ? "Nothing was refunded." : "Your refund is on its way.";
    await load(`Cancelled. ${refund}`);
  } },
    el("h2", { id: "cancel-title" }, "Cancel"),
    el("p", { id: "refund-rule" }, refundRule()),
    el("div", { class: "field" }, el("label", { for: "reason" }, "Reason (optional)"),
      el("textarea", { id: "reason", name: "reason", maxlength: "500" })),
    el("div", { id: "cancel-error" }),
    el("button", { type: "submit" }, "Cancel booking"));
  return form;
}

function checkIn() {
  const questions = booking.service.questions;
  const form = el("form", { id: "check-in", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    const input = { token, answers: readAnswers(form, questions) };
    const result = (await request(FORM, { input })).submitBookingForm;
    if (result.__typename === "BookingFormSubmitted") return load("Thank you: your answers were sent.");
    showError(fieldError(form, result.field) || $("#form-error"), result.message);
  } },
    el("h2", {}, "Before the session"), el("p", {}, "Your tutor asks a few questions."),
    questionFields(questions), el("div", { id: "form-error" }),
    el("button", { type: "submit", class: "primary" }, "Send answers"));
  return form;
}

function review() {
  const form = el("form", { id: "review", onsubmit: async (event) => {
    event.preventDefault();
    const rating = form.querySelector("input[name=rating]:checked");
    if (!rating) return showError($("#review-error"), "Choose a rating from 1 to 5.");
    const input = { token, rating: Number(rating.value), comment: form.elements.comment.value.trim() || null };
    const result = (await request(REVIEW, { input })).submitReview;
    if (result.__typename === "ReviewSubmitted") return load("Thank you for your review.");
    showError($("#review-error"), result.message);
  } },
    el("h2", {}, "How was it?"),
    el("fieldset", {}, el("legend", {}, "Rating"), [1, 2, 3, 4, 5].map((n) =>
      el("label", {}, el("input", { type: "radio", name: "rating", value: n }), ` ${n} `))),
    el("div", { class: "field" }, el("label", { for: "comment" }, "Comment (optional)"),
      el("textarea", { id: "comment", name: "comment", maxlength: "2000" })),
    el("div", { id: "review-error" }),
    el("button", { type: "submit", class: "primary" }, "Send review"));
  return form;
}

if (!token) {
  app.removeAttribute("aria-busy");
  clear(app, el("h1", {}, "Open the link from your confirmation email to manage your booking."));
} else {
  load().catch((error) => clear(app, el("p", { class: "error", role: "alert" }, error.message)));
}
