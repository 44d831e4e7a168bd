// A month calendar of the days with free time (SlotSearch.days) and the chosen day's times, in
// the visitor's zone. Arrow keys move through the days, Enter picks one.
import { request } from "./gql.js";
import { $, announce, clear, clock, el, longDate, money } from "./dom.js";

const MONTH = `query Month($input: SlotSearchInput!) { availableSlots(input: $input) {
  days { date slotCount } nextAvailable { start } } }`;
const DAY = `query Day($input: SlotSearchInput!) { availableSlots(input: $input) {
  slots { start end durationMinutes price { amountMinor currency } tutor { id displayName } } } }`;
const DAY_MS = 86400000;
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

const isoDay = (date) => date.toISOString().slice(0, 10);
const utcNoon = (day) => new Date(`${day}T12:00:00Z`);
export const localDay = (instant, zone) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date(instant));

export class Picker {
  constructor(root, options) {
    this.root = root;
    this.options = options; // serviceId, tutorId, duration, zone, token, onPick, onDate
    this.days = new Map();
    this.slots = [];
    this.day = null;
    this.month = null;
    this.focused = null;
  }

  input(from, to, extra = {}) {
    const { serviceId, tutorId, duration, zone } = this.options;
    return {
      serviceId, timeZone: zone, from: from.toISOString(), to: to.toISOString(),
      tutorId: tutorId || null, durationMinutes: duration || null,
      groupByStart: !tutorId, ...extra,
    };
  }

  async search(from, to, document = MONTH) {
    const data = await request(document, { input: this.input(from, to) }, this.options.token);
    return data.availableSlots;
  }

  async start() {
    const now = new Date();
    this.root.setAttribute("aria-busy", "true");
    clear(this.root, el("div", { class: "skeleton", "aria-hidden": "true" }));
    // nextAvailable looks past the range, up to the booking window: one day is enough.
    const first = await this.search(now, new Date(now.getTime() + DAY_MS));
    this.next = first.nextAvailable;
    const opening = this.next ? localDay(this.next.start, this.options.zone) : isoDay(now);
    await this.showMonth(opening.slice(0, 7));
  }

  async showMonth(month) {
    this.month = month;
    const [year, index] = month.split("-").map(Number);
    const from = new Date(Math.max(Date.UTC(year, index - 1, 1) - DAY_MS, Date.now()));
    const to = new Date(Date.UTC(year, index, 1) + DAY_MS);
    this.root.setAttribute("aria-busy", "true");
    const found = to > from ? await this.search(from, to) : { days: [] };
    this.days = new Map(found.days.filter((d) => d.date.startsWith(month)).map((d) => [d.date, d]));
    this.root.removeAttribute("aria-busy");
    this.render();
  }

  render() {
    const [year, index] = this.month.split("-").map(Number);
    const first = new Date(Date.UTC(year, index - 1, 1));
    const count = new Date(Date.UTC(year, index, 0)).getUTCDate();
    const today = localDay(new Date(), this.options.zone);
    const title = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric", timeZone: "UTC" })
      .format(first);
    const move = (delta) => {
      const target = new Date(Date.UTC(year, index - 1 + delta, 1));
      this.showMonth(isoDay(target).slice(0, 7));
    };
    const cells = [];
    for (let n = 0; n < (first.getUTCDay() + 6) % 7; n++) cells.push(el("span", { class: "pad" }));
    const open = [...this.days.keys()];
    this.focused = this.focused && this.focused.startsWith(this.month) ? this.focused
      : this.day && this.day.startsWith(this.month) ? this.day : open[0] || `${this.month}-01`;
    for (let d = 1; d <= count; d++) {
      const date = `${this.month}-${String(d).padStart(2, "0")}`;
      const found = this.days.get(date);
      const usable = Boolean(found) && date >= today;
      const label = `${longDate(utcNoon(date), "UTC")}, ${usable ? `${found.slotCount} times` : "no times"}`;
      cells.push(el("button", {
        type: "button", class: "day", "data-date": date, "aria-label": label,
        "aria-disabled": usable ? null : "true", "aria-pressed": String(date === this.day),
        tabindex: date === this.focused ? "0" : "-1",
        onclick: () => usable && this.pickDay(date),
      }, String(d)));
    }
    const grid = el("div", { class: "grid", role: "group", "aria-label": `Days of ${title}`,
      onkeydown: (event) => this.key(event) }, cells);
    const nextButton = this.next && el("button", {
      type: "button", class: "link", id: "next-available",
      onclick: () => this.jump(localDay(this.next.start, this.options.zone)),
    }, `Next available: ${longDate(this.next.start, this.options.zone)} ${clock(this.next.start, this.options.zone)}`);
    clear(this.root,
      el("div", { class: "month-head" },
        el("button", { type: "button", "aria-label": "Previous month", onclick: () => move(-1) }, "‹"),
        el("h3", { "aria-live": "polite" }, title),
        el("button", { type: "button", "aria-label": "Next month", onclick: () => move(1) }, "›")),
      el("div", { class: "weekdays", "aria-hidden": "true" }, WEEKDAYS.map((w) => el("span", {}, w))),
      grid,
      open.length ? null : el("p", { class: "muted", id: "no-days" }, "No free time this month."),
      nextButton,
      el("section", { id: "times", "aria-label": "Times" }));
    if (this.day && this.day.startsWith(this.month)) this.renderTimes();
  }

  async jump(date) {
    this.day = date;
    this.focused = date;
    if (!date.startsWith(this.month)) await this.showMonth(date.slice(0, 7));
    await this.pickDay(date);
  }

  async key(event) {
    const steps = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 };
    if (!(event.key in steps) || !event.target.dataset.date) return;
    event.preventDefault();
    const target = isoDay(new Date(utcNoon(event.target.dataset.date).getTime() + steps[event.key] * DAY_MS));
    this.focused = target;
    if (!target.startsWith(this.month)) await this.showMonth(target.slice(0, 7));
    for (const b of this.root.querySelectorAll(".day")) b.tabIndex = b.dataset.date === target ? 0 : -1;
    $(`[data-date="${target}"]`, this.root).focus();
  }

  async pickDay(date) {
    this.day = date;
    for (const b of this.root.querySelectorAll(".day")) b.setAttribute("aria-pressed", String(b.dataset.date === date));
    if (this.options.onDate) this.options.onDate(date);
    await this.loadDay();
    const first = $("#times button", this.root);
    if (first) first.focus();
  }

  async loadDay() {
    const noon = utcNoon(this.day).getTime();
    const found = await this.search(new Date(noon - 1.5 * DAY_MS), new Date(noon + 1.5 * DAY_MS), DAY);
    this.slots = found.slots.filter((s) => s.start.slice(0, 10) === this.day);
    this.renderTimes();
  }

  renderTimes() {
    const zone = this.options.zone;
    const list = this.slots.map((slot) => el("li", {},
      el("button", { type: "button", class: "time", "data-start": slot.start,
        onclick: () => this.options.onPick(slot) },
        clock(slot.start, zone), slot.price ? el("span", { class: "muted" }, ` ${money(slot.price)}`) : null)));
    const times = $("#times", this.root);
    clear(times,
      el("h3", {}, longDate(utcNoon(this.day), "UTC")),
      list.length ? el("ul", { class: "times" }, list) : el("p", { class: "muted" }, "No free time left this day."));
  }

  // Time taken or freed on a tutor's calendar: the month and the day are asked again, and
  // times that went are announced.
  async refresh() {
    if (!this.month) return;
    const before = new Set(this.slots.map((s) => s.start));
    await this.showMonth(this.month);
    if (!this.day) return;
    await this.loadDay();
    const now = new Set(this.slots.map((s) => s.start));
    const gone = [...before].filter((start) => !now.has(start));
    if (gone.length) {
      const names = gone.map((start) => clock(start, this.options.zone)).join(", ");
      announce(`Just taken by someone else: ${names}.`);
    }
    return gone;
  }
}
