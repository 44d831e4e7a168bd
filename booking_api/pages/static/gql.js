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

// One websocket for the page's subscriptions, reconnected with backoff. After a reconnect every
// subscription is sent again and `onReconnect` runs (delivery is at-most-once: refetch then).
export class Live {
  constructor({ token = null, onReconnect = () => {}, onState = () => {} } = {}) {
    this.token = token;
    this.onReconnect = onReconnect;
    this.onState = onState;
    this.subscriptions = new Map();
    this.next = 1;
    this.delay = 500;
    this.socket = null;
    this.ready = false;
    this.opened = false;
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
    socket.addEventListener("close", () => {
      this.ready = false;
      this.onState("offline");
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    });
  }

  receive(message) {
    if (message.type === "connection_ack") {
      this.ready = true;
      this.delay = 500;
      for (const [id, sub] of this.subscriptions) this.send(id, sub);
      this.onState("live");
      if (this.opened) this.onReconnect();
      this.opened = true;
    } else if (message.type === "ping") {
      this.socket.send(JSON.stringify({ type: "pong" }));
    } else if (message.type === "next") {
      const sub = this.subscriptions.get(message.id);
      if (!sub) return;
      if (message.payload.errors) sub.onError(message.payload.errors.map((e) => e.message).join(" "));
      else sub.onData(message.payload.data);
    } else if (message.type === "error") {
      const sub = this.subscriptions.get(message.id);
      if (sub) sub.onError(message.payload.map((e) => e.message).join(" "));
    }
  }

  send(id, sub) {
    const payload = { query: sub.query, variables: sub.variables };
    this.socket.send(JSON.stringify({ id, type: "subscribe", payload }));
  }

  subscribe(query, variables, onData, onError = () => {}) {
    const id = String(this.next++);
    const sub = { query, variables, onData, onError };
    this.subscriptions.set(id, sub);
    if (this.ready) this.send(id, sub);
    return () => {
      this.subscriptions.delete(id);
      if (this.ready) this.socket.send(JSON.stringify({ id, type: "complete" }));
    };
  }
}
