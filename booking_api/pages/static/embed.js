// The widget's loader, for a tutor's own site:
// <script src="https://booking.example/static/embed.js" data-service="SERVICE_ID" async></script>
// It puts the booking widget in an iframe where the script stands and keeps its height fitting.
(() => {
  const script = document.currentScript;
  const origin = new URL(script.src).origin;
  const data = script.dataset;
  const query = new URLSearchParams();
  for (const name of ["tutor", "accent", "theme"]) if (data[name]) query.set(name, data[name]);
  const frame = document.createElement("iframe");
  frame.src = `${origin}/embed/${encodeURIComponent(data.service)}?${query}`;
  frame.title = data.title || "Book a lesson";
  frame.style.cssText = "width:100%;border:0;height:600px;display:block";
  frame.setAttribute("loading", "lazy");
  script.after(frame);
  window.addEventListener("message", (event) => {
    if (event.origin !== origin || event.source !== frame.contentWindow) return;
    const message = event.data;
    if (message && message.type === "booking-widget:height" && Number.isFinite(message.height)) {
      frame.style.height = `${Math.max(200, Math.min(message.height, 5000))}px`;
    }
  });
})();
