// The dashboard's hours: the default schedule's weekly hours and its date overrides, edited in
// place; a blocked override warns of the bookings it overlaps (they stay booked).
import { request } from "./gql.js";
import { clear, clock, el, longDate, showError } from "./dom.js";

const WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];
const SCHEDULES = `query Hours($from: Date) { viewer { tutor { schedules { id name timeZone isDefault
  rules { weekday start end } overrides(from: $from) { id date start end available } } } } }`;
const ERRORS = "... on InvalidInput { message field } ... on UserError { message }";
const RULES = `mutation Rules($input: SetWeeklyRulesInput!) { setWeeklyRules(input: $input) { __typename ${ERRORS} } }`;
const ADD = `mutation Add($input: AddOverrideInput!) { addOverride(input: $input) { __typename
  ... on OverrideAdded { conflictingBookings { id start student { displayName } } } ${ERRORS} } }`;
const REMOVE = `mutation Remove($id: ID!) { removeOverride(id: $id) { __typename ... on UserError { message } } }`;
const title = (day) => day.charAt(0) + day.slice(1).toLowerCase();
const hhmm = (time) => (time ? time.slice(0, 5) : "");

export async function hours(root, token) {
  const call = (query, variables) => request(query, variables, token);
  const today = new Date().toISOString().slice(0, 10);
  const schedules = (await call(SCHEDULES, { from: today })).viewer.tutor.schedules;
  const schedule = schedules.find((s) => s.isDefault) || schedules[0];
  if (!schedule) return clear(root, el("h2", {}, "Your hours"), el("p", {}, "No schedule yet."));
  const reload = () => hours(root, token);

  const rows = el("tbody", {});
  const addRow = (rule = { weekday: "MONDAY", start: "09:00", end: "17:00" }) => {
    const n = rows.children.length;
    rows.append(el("tr", {},
      el("td", {}, el("select", { "aria-label": `Day of row ${n + 1}`, name: "weekday" },
        WEEKDAYS.map((d) => el("option", { value: d, selected: d === rule.weekday }, title(d))))),
      el("td", {}, el("input", { type: "time", name: "start", value: hhmm(rule.start), "aria-label": `Start of row ${n + 1}` })),
      el("td", {}, el("input", { type: "time", name: "end", value: hhmm(rule.end), "aria-label": `End of row ${n + 1}` })),
      el("td", {}, el("button", { type: "button", onclick: (e) => e.target.closest("tr").remove() }, "Remove"))));
  };
  schedule.rules.forEach(addRow);
  const weekly = el("form", { id: "weekly", onsubmit: async (event) => {
    event.preventDefault();
    const rules = [...rows.children].map((tr) => ({ weekday: tr.querySelector("[name=weekday]").value,
      start: tr.querySelector("[name=start]").value, end: tr.querySelector("[name=end]").value }));
    const result = (await call(RULES, { input: { scheduleId: schedule.id, rules } })).setWeeklyRules;
    if (result.__typename === "ScheduleSaved") {
      await reload();
      return clear(root.querySelector("#hours-note"), el("p", { role: "status" }, "Weekly hours saved."));
    }
    showError(weekly.querySelector(".form-error"), result.message);
  } },
    el("h3", {}, `Weekly hours (${schedule.timeZone})`),
    el("table", {}, el("thead", {}, el("tr", {}, ["Day", "From", "To", ""].map((h) => el("th", { scope: "col" }, h)))), rows),
    el("button", { type: "button", onclick: () => addRow() }, "Add hours"), " ",
    el("button", { type: "submit", class: "primary" }, "Save weekly hours"),
    el("div", { class: "form-error" }));

  const warning = el("div", { id: "conflicts", "aria-live": "polite" });
  const override = el("form", { id: "override", onsubmit: async (event) => {
    event.preventDefault();
    const f = override.elements;
    const kind = f.kind.value;
    const input = { scheduleId: schedule.id, date: f.date.value, available: kind === "extra",
      start: kind === "day" ? null : f.start.value || null, end: kind === "day" ? null : f.end.value || null };
    const result = (await call(ADD, { input })).addOverride;
    if (result.__typename !== "OverrideAdded") return showError(override.querySelector(".form-error"), result.message);
    const conflicts = result.conflictingBookings;
    await reload();
    if (conflicts.length) {
      clear(root.querySelector("#conflicts"), el("div", { role: "alert", class: "error" },
        "These bookings overlap the blocked time and stay booked: decide what to do with each.",
        el("ul", {}, conflicts.map((b) => el("li", {}, `${longDate(b.start, schedule.timeZone)} ${clock(b.start, schedule.timeZone)} · ${b.student.displayName}`)))));
    }
  } },
    el("h3", {}, "Days off and extra hours"),
    el("div", { class: "field" }, el("label", { for: "ov-date" }, "Date"), el("input", { id: "ov-date", name: "date", type: "date", required: true, min: today })),
    el("div", { class: "field" }, el("label", { for: "ov-kind" }, "Change"), el("select", { id: "ov-kind", name: "kind" },
      el("option", { value: "day" }, "Block the whole day"), el("option", { value: "range" }, "Block these hours"),
      el("option", { value: "extra" }, "Add these hours"))),
    el("div", { class: "field" }, el("label", { for: "ov-start" }, "From"), el("input", { id: "ov-start", name: "start", type: "time" })),
    el("div", { class: "field" }, el("label", { for: "ov-end" }, "To"), el("input", { id: "ov-end", name: "end", type: "time" })),
    el("button", { type: "submit" }, "Add change"), el("div", { class: "form-error" }));
  const existing = schedule.overrides.map((o) => el("li", {},
    `${longDate(`${o.date}T12:00:00Z`, "UTC")}: ${o.available ? "extra hours" : "blocked"}${o.start ? ` ${hhmm(o.start)}–${hhmm(o.end)}` : ", whole day"} `,
    el("button", { type: "button", onclick: async () => { await call(REMOVE, { id: o.id }); reload(); } }, "Remove")));
  clear(root, el("h2", {}, "Your hours"), el("div", { id: "hours-note" }), weekly, override, warning,
    existing.length ? el("ul", { id: "overrides" }, existing) : null);
}
