// Building the page: every string from the API goes in as text, never as HTML.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.filter((child) => child));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// A polite announcement for screen readers (the page's aria-live region).
export function announce(text) {
  const region = $("#announcer");
  if (region) {
    region.textContent = "";
    requestAnimationFrame(() => (region.textContent = text));
  }
}

export function money(price) {
  if (!price) return "Free";
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency: price.currency });
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(price.amountMinor / 10 ** digits);
}

export function when(iso, zone, options) {
  return new Intl.DateTimeFormat(undefined, { timeZone: zone, ...options }).format(new Date(iso));
}

export const longDate = (iso, zone) =>
  when(iso, zone, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
export const clock = (iso, zone) => when(iso, zone, { hour: "2-digit", minute: "2-digit" });

export function detectedZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

// A select of every IANA zone the browser knows, `zone` chosen.
export function zoneSelect(zone, onChange) {
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [zone];
  if (!zones.includes(zone)) zones.unshift(zone);
  const select = el(
    "select",
    { id: "zone", onchange: () => onChange(select.value) },
    zones.map((name) => el("option", { value: name, selected: name === zone }, name)),
  );
  return el("p", { class: "zone" }, el("label", { for: "zone" }, "Times shown in "), select);
}

// An error from the API, in words, next to what caused it (or in the form's own slot).
export function showError(slot, message) {
  clear(slot, message ? el("p", { class: "error", role: "alert" }, message) : null);
}

// The error slot beside the control an InvalidInput names (its `field`), or null.
export function fieldError(root, field) {
  const control = field && root.querySelector(`[data-field="${CSS.escape(field)}"]`);
  const box = control && control.closest(".field");
  return box ? box.querySelector(".field-error") : null;
}

export function newId() {
  return crypto.randomUUID();
}
