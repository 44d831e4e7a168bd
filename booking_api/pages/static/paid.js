// The payer's return from Checkout: the booking stored before leaving, shown once confirmed.
import { request } from "./gql.js";
import { $, clear, el } from "./dom.js";
import { confirmation, PENDING_KEY } from "./confirmation.js";

const FIELDS = `id status checkoutUrl icsUrl price { amountMinor currency } service { title }
  tutor { displayName } start(timeZone: $zone) end(timeZone: $zone)`;
const BY_TOKEN = `query Paid($token: String!, $zone: TimeZone!) { booking: bookingByToken(token: $token) { ${FIELDS} } }`;
const BY_ID = `query Paid($id: ID!, $zone: TimeZone!) { booking(id: $id) { ${FIELDS} } }`;
const app = $("#app");
const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");

async function poll() {
  if (!pending) {
    clear(app, el("h1", {}, "Payment received: your booking is confirmed shortly."));
    return;
  }
  const token = sessionStorage.getItem("booking-api-student-token");
  for (let attempt = 0; attempt < 30; attempt++) {
    const data = pending.token
      ? await request(BY_TOKEN, { token: pending.token, zone: pending.zone })
      : await request(BY_ID, { id: pending.id, zone: pending.zone }, token);
    if (data.booking && data.booking.status !== "PENDING_PAYMENT") {
      app.removeAttribute("aria-busy");
      clear(app, confirmation(data.booking, pending));
      sessionStorage.removeItem(PENDING_KEY);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  clear(app, el("p", { role: "status" }, "Your payment is still being confirmed: you will get an email."));
}

poll().catch((error) => clear(app, el("p", { class: "error", role: "alert" }, error.message)));
