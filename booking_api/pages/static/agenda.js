// An owner's or admin's view of the organization: each member's next three weeks side by side.
import { request } from "./gql.js";
import { clear, clock, el, longDate } from "./dom.js";

// Asking for the members by id prices the agenda per member, not as 100 agendas.
const AGENDA = `query Agenda($id: ID!, $from: DateTime!, $to: DateTime!, $zone: TimeZone!, $ids: [ID!]) {
  organization(id: $id) { agenda(from: $from, to: $to, timeZone: $zone, tutorIds: $ids) { truncated
    tutor { id displayName } bookings { id start end service { title } student { displayName } } } } }`;
const DAYS = 21;

export async function agenda(root, token, organization, zone) {
  const from = new Date();
  const to = new Date(from.getTime() + DAYS * 86400000);
  const ids = organization.members.map((m) => m.tutor.id);
  const variables = { id: organization.id, from: from.toISOString(), to: to.toISOString(), zone, ids };
  const data = await request(AGENDA, variables, token);
  const columns = data.organization.agenda.map((member) => el("section", { class: "member", "data-tutor": member.tutor.id },
    el("h3", {}, member.tutor.displayName),
    member.bookings.length ? el("ul", {}, member.bookings.map((b) => el("li", {},
      `${longDate(b.start, zone)} ${clock(b.start, zone)} · ${b.service.title} · ${b.student.displayName}`)))
      : el("p", { class: "muted" }, "Nothing booked."),
    member.truncated ? el("p", { class: "muted" }, "More than fit here: see the list.") : null));
  clear(root, el("h2", {}, `Everyone's next ${DAYS} days`), el("div", { class: "members" }, columns));
}
