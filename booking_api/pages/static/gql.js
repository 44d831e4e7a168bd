// Our own small GraphQL client: operations over fetch, subscriptions over graphql-transport-ws.

export class ApiError extends Error {}

export async function request(query, variables = {}, token = null) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("The server could not be reached. Check your connection and try again.");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status}. Try again in a moment.`);
  }
  if (body.errors && body.errors.length) {
    throw new ApiError(body.errors.map((error) => error.message).join(" "));
  }
  return body.data;
}

// Codes with which the server ends a subscription that may have missed events (README, "Live
// updates"): the client subscribes again, then refetches.
const RESUBSCRIBE = new Set(["EVENTS_MISSED", "SUBSCRIBER_TOO_SLOW"]);
// A resumed subscription (`since`) whose missed events the server cannot send: the page
// refetches first (which moves its `since` on), then subscribes again.
const REFETCH = "REFETCH_NEEDED";
// Close codes after which connecting again would be refused again (graphql-transport-ws): 4403,
// the server refused the token of connection_init (expired, say); 4400 and 4429, this client's
// own mistake. The page is told ("refused") instead of retrying forever.
const REFUSED = new Set([4400, 4403, 4429]);

// One websocket for the page's subscriptions, reconnected with backoff (0.5 s doubling, at most
// 15 s). Delivery is at-most-once, so after every gap (a socket lost, even before its first
// acknowledgement, or a subscription ended by one of RESUBSCRIBE) the subscriptions are sent
// again first and `onResync` runs next, for the page to refetch what it shows. `onState` hears
// "live", "offline" (reconnecting) and "refused" (given up: see REFUSED).
export class Live {
  constructor({ token = null, onResync = () => {}, onState = () => {} } = {}) {
    this.token = token;
    this.onResync = onResync;
    this.onState = onState;
    this.subscriptions = new Map();
    this.next = 1;
    this.delay = 500;
    this.socket = null;
    this.ready = false;
    this.gap = false;
    this.resyncTimer = null;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/graphql`, "graphql-transport-ws");
    this.socket = socket;
    socket.addEventListener("open", () => {
      const payload = this.token ? { Authorization: `Bearer ${this.token}` } : {};
      socket.send(JSON.stringify({ type: "connection_init", payload }));
    });
    socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      this.ready = false;
      if (REFUSED.has(event.code)) return this.onState("refused", event.reason);
      this.gap = true;
      this.onState("offline");
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    });
  }

  receive(message) {
    const sub = this.subscriptions.get(message.id);
    if (message.type === "connection_ack") {
      this.ready = true;
      this.delay = 500;
      for (const each of this.subscriptions.values()) this.send(each);
      this.onState("live");
      if (this.gap) this.resynced();
      this.gap = false;
    } else if (message.type === "ping") {
      this.socket.send(JSON.stringify({ type: "pong" }));
    } else if (message.type === "next" && sub) {
      const errors = message.payload.errors;
      // Its `complete` follows: subscribed again then.
      const codes = (errors || []).map((e) => e.extensions?.code);
      if (codes.some((code) => RESUBSCRIBE.has(code))) sub.again = true;
      else if (codes.includes(REFETCH)) sub.refetch = true;
      else if (errors) sub.onError(errors.map((e) => e.message).join(" "));
      else sub.onData(message.payload.data);
    } else if (message.type === "complete" && sub) {
      this.subscriptions.delete(sub.id);
      if (sub.refetch) Promise.resolve(this.onResync()).finally(() => this.add(sub));
      if (!sub.again) return;
      this.add(sub);
      this.resynced();
    } else if (message.type === "error" && sub) {
      this.subscriptions.delete(sub.id);
      sub.onError(message.payload.map((e) => e.message).join(" "));
    }
  }

  // Several subscriptions end at once when the server's broker comes back: one refetch for all.
  resynced() {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => this.onResync(), 50);
  }

  send(sub) {
    sub.again = sub.refetch = false;
    // A function: variables as they are at each (re)subscription, a `since` that moves on.
    const variables = typeof sub.variables === "function" ? sub.variables() : sub.variables;
    const payload = { query: sub.query, variables };
    this.socket.send(JSON.stringify({ id: sub.id, type: "subscribe", payload }));
  }

  // A fresh id each time: the server may still hold the ended operation's.
  add(sub) {
    sub.id = String(this.next++);
    this.subscriptions.set(sub.id, sub);
    if (this.ready) this.send(sub);
  }

  subscribe(query, variables, onData, onError = () => {}) {
    const sub = { query, variables, onData, onError };
    this.add(sub);
    return () => {
      if (this.subscriptions.delete(sub.id) && this.ready) {
        this.socket.send(JSON.stringify({ id: sub.id, type: "complete" }));
      }
    };
  }
}
