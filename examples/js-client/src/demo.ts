/**
 * booking-api from a typed JS client, as a dashboard and a booking page use it:
 * the tutor follows their bookings over graphql-ws, a student lists the tutor's free slots,
 * books the first one, and the tutor's subscription receives the booking's event.
 *
 *   BOOKING_API_URL   the GraphQL endpoint (default http://127.0.0.1:8000/graphql)
 *   TUTOR_TOKEN       a bearer token of a tutor with hours and a service
 *   STUDENT_TOKEN     a bearer token of a student
 *   TIME_ZONE         the student's IANA zone (default UTC)
 *   DEMO_TIMEOUT_MS   give up after this long (default 20000)
 *
 * Exits 0 once the event has arrived; 1 with a message on any GraphQL error, a booking refused,
 * a closed websocket, or the timeout.
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type GraphQLFormattedError, print } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

import { graphql } from "./gql/index.js";
import type { DemoBookingEventsSubscription } from "./gql/graphql.js";

const url = process.env.BOOKING_API_URL ?? "http://127.0.0.1:8000/graphql";
const timeZone = process.env.TIME_ZONE ?? "UTC";
const timeoutMs = Number(process.env.DEMO_TIMEOUT_MS ?? 20_000);

const DemoTutor = graphql(`
  query DemoTutor {
    viewer {
      tutor {
        id
        displayName
        services {
          id
          title
        }
      }
    }
  }
`);

const DemoSlots = graphql(`
  query DemoSlots($input: SlotSearchInput!) {
    availableSlots(input: $input) {
      slots {
        start
        end
        durationMinutes
      }
    }
  }
`);

// `... on UserError` reaches every refusal in the union at once: the fields Apollo Client drops
// unless it is given the generated possibleTypes (README, "JS clients").
const DemoBook = graphql(`
  mutation DemoBook($input: CreateBookingInput!) {
    createBooking(input: $input) {
      __typename
      ... on BookingCreated {
        booking {
          id
          status
          start
          end
        }
      }
      ... on UserError {
        message
      }
    }
  }
`);

const DemoAsOf = graphql(`
  query DemoAsOf($tutorId: ID!) {
    bookings(filter: { tutorId: $tutorId }, first: 1) {
      asOf
    }
  }
`);

const DemoBookingEvents = graphql(`
  subscription DemoBookingEvents($tutorId: ID!, $since: DateTime) {
    bookingEvents(tutorId: $tutorId, since: $since) {
      action
      at
      booking {
        id
        status
      }
    }
  }
`);

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

function describe(errors: readonly GraphQLFormattedError[]): string {
  return errors.map((e) => `${String(e.extensions?.code ?? "ERROR")}: ${e.message}`).join("; ");
}

/** One operation over HTTP POST, typed by its document; any GraphQL error is thrown. */
async function request<Result, Variables>(
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
  token: string,
): Promise<Result> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
      Authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query: print(document), variables }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let body: { data?: Result | null; errors?: GraphQLFormattedError[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status} from ${url}: ${text.slice(0, 200)}`);
  }
  if (body.errors?.length) throw new Error(describe(body.errors));
  if (body.data == null) throw new Error(`HTTP ${response.status} from ${url} with no data`);
  return body.data;
}

async function main(): Promise<void> {
  const tutorToken = required("TUTOR_TOKEN");
  const studentToken = required("STUDENT_TOKEN");

  const { viewer } = await request(DemoTutor, {}, tutorToken);
  const tutor = viewer.tutor;
  const service = tutor?.services[0];
  if (!tutor || !service) throw new Error("the tutor token's user has no tutor profile or service");
  console.log(`tutor ${tutor.id} (${tutor.displayName}), service ${service.id} (${service.title})`);

  // Authenticated once per connection, in connection_init's payload: browsers cannot set
  // headers on a websocket. A refused token closes the socket with 4403.
  let connected: () => void = () => {};
  let refused: (reason: unknown) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    connected = resolve;
    refused = reject;
  });
  const live = createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${tutorToken}` },
    retryAttempts: 0,
    // `closed` before `connected`: the token was refused or the server cannot be reached.
    on: { connected: () => connected(), closed: (event) => refused(event) },
  });
  // graphql-transport-ws never says when the server listens: resumed from the list's `asOf`,
  // the subscription also sends what changed since then, so the booking below reaches it.
  const { bookings } = await request(DemoAsOf, { tutorId: tutor.id }, tutorToken);
  const events = live.iterate<DemoBookingEventsSubscription>({
    query: print(DemoBookingEvents),
    variables: { tutorId: tutor.id, since: bookings.asOf },
  });
  try {
    await ready;

    const from = new Date();
    const to = new Date(from.getTime() + 7 * 24 * 3600 * 1000);
    const search = {
      serviceId: service.id,
      tutorId: tutor.id,
      from: from.toISOString(),
      to: to.toISOString(),
      timeZone,
    };
    const { availableSlots } = await request(DemoSlots, { input: search }, studentToken);
    const slot = availableSlots.slots[0];
    if (!slot) throw new Error("no free slot in the next 7 days");
    console.log(`slots ${availableSlots.slots.length} free, first ${slot.start}`);

    const input = {
      serviceId: service.id,
      tutorId: tutor.id,
      start: slot.start,
      durationMinutes: slot.durationMinutes,
      timeZone,
    };
    const { createBooking: result } = await request(DemoBook, { input }, studentToken);
    if (result.__typename !== "BookingCreated") {
      const message = "message" in result ? result.message : "";
      throw new Error(`createBooking answered ${result.__typename}: ${message}`);
    }
    const { booking } = result;
    console.log(`booked ${booking.id} ${booking.status} ${booking.start} to ${booking.end}`);

    // Replayed or live, the booking's event comes (an event may come twice: match by id).
    for await (const { data, errors } of events) {
      if (errors?.length) throw new Error(describe(errors));
      const event = data?.bookingEvents;
      if (event?.booking.id === booking.id) {
        console.log(`event ${event.action} ${event.booking.id} ${event.booking.status} at ${event.at}`);
        return;
      }
    }
    throw new Error("the server ended the subscription");
  } finally {
    await live.dispose();
  }
}

const timer = setTimeout(() => {
  console.error(`error: nothing more after ${timeoutMs} ms`);
  process.exit(1);
}, timeoutMs);

main().then(
  () => clearTimeout(timer),
  (error: unknown) => {
    // graphql-ws rejects with the websocket's CloseEvent when the server closes the socket.
    const closed = error as { code?: number; reason?: string };
    const message =
      error instanceof Error
        ? [error.message, (error.cause as Error | undefined)?.message].filter(Boolean).join(": ")
        : `websocket closed ${closed.code} ${closed.reason}`;
    console.error(`error: ${message}`);
    process.exit(1);
  },
);
