// GraphQL over HTTP: graphql-http's server audits against a running service; every MUST and
// SHOULD must pass (MAYs are printed, not required). Usage: node graphql-http-audit.mjs URL
import { serverAudits } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node graphql-http-audit.mjs http://127.0.0.1:PORT/graphql");
  process.exit(2);
}
const counts = {};
const failed = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const level = audit.name.split(" ")[0];
  counts[level] ??= { ok: 0, all: 0 };
  counts[level].all += 1;
  if (result.status === "ok") {
    counts[level].ok += 1;
  } else if (level !== "MAY") {
    failed.push(`${audit.id} ${audit.name}: ${result.reason}`);
  }
}
for (const [level, { ok, all }] of Object.entries(counts)) {
  console.log(`${level}: ${ok}/${all}`);
}
for (const line of failed) console.log(`FAILED ${line}`);
process.exit(failed.length ? 1 : 0);
