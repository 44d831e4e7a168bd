// What the visitor sees once booked: the details in their zone, the .ics file, and for a
// guest where to manage it.
import { clock, el, longDate, money } from "./dom.js";

export const PENDING_KEY = "booking-api-pending";

export function confirmation(booking, { token, zone, email }) {
  const confirmed = booking.status === "CONFIRMED";
  return el("section", { id: "confirmation", "data-status": booking.status },
    el("h1", { tabindex: "-1" }, confirmed ? "You're booked" : "Waiting for your payment"),
    el("p", {}, `${booking.service.title} with ${booking.tutor.displayName}`),
    el("p", { id: "when" }, `${longDate(booking.start, zone)}, ${clock(booking.start, zone)}–${clock(booking.end, zone)} (${zone})`),
    booking.price ? el("p", {}, `Price: ${money(booking.price)}`) : null,
    el("p", {}, el("a", { href: booking.icsUrl, id: "ics" }, "Add to calendar (.ics)")),
    token ? el("p", { id: "manage-note" },
      email ? `We emailed ${email} a link to change or cancel it. ` : "",
      el("a", { href: `/manage?token=${encodeURIComponent(token)}` }, "Manage this booking")) : null);
}
