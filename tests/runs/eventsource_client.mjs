// A standard EventSource client (the npm `eventsource` package, as browsers behave) on one
// URL, for sse_clients_test.cpp. It counts every connection it makes (through its fetch) and
// prints one JSON line when the source is CLOSED, or when it gives up waiting for that:
//   {"closed": bool, "connections": [{"last_event_id": ..., "status": ...}], "ids": [...],
//    "errors": n}
// Usage: node eventsource_client.mjs <eventsource/dist/index.js> <url> <give-up-ms> <types>
//   <types>: the event types to listen for, comma-separated (SSE delivers each under its name)
import { pathToFileURL } from 'node:url';

const [modulePath, url, giveUpMs, typeList] = process.argv.slice(2);
const { EventSource } = await import(pathToFileURL(modulePath).href);

const connections = [];
const ids = [];
let errors = 0;

const countingFetch = async (input, init) => {
  const connection = { last_event_id: init?.headers?.['Last-Event-ID'] ?? null, status: null };
  connections.push(connection);
  const response = await fetch(input, init);
  connection.status = response.status;
  return response;
};

const source = new EventSource(url, { fetch: countingFetch });

const report = (closed) => {
  source.close();
  process.stdout.write(JSON.stringify({ closed, connections, ids, errors }) + '\n');
  process.exit(0);
};

// The id of each event is what a reconnect sends back as Last-Event-ID.
for (const type of typeList.split(',')) {
  source.addEventListener(type, (event) => ids.push(event.lastEventId));
}
source.onmessage = (event) => ids.push(event.lastEventId);

source.onerror = () => {
  errors += 1;
  if (source.readyState === EventSource.CLOSED) report(true);
};

setTimeout(() => report(false), Number(giveUpMs));
