// Inside the widget's iframe: the theme from the address, and the page's height told to the
// page around it (static/embed.js resizes the iframe).
const params = new URLSearchParams(location.search);
const accent = params.get("accent");
if (accent && /^#?[0-9a-fA-F]{3,8}$/.test(accent)) {
  document.documentElement.style.setProperty("--accent", accent.startsWith("#") ? accent : `#${accent}`);
}
if (params.get("theme") === "dark") document.documentElement.dataset.theme = "dark";
document.documentElement.classList.add("embedded");

let last = 0;
function tell() {
  const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
  if (height !== last) {
    last = height;
    parent.postMessage({ type: "booking-widget:height", height }, "*");
  }
}
new ResizeObserver(tell).observe(document.documentElement);
tell();
