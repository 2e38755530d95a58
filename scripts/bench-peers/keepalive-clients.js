'use strict';
// N clients at once, each on its own kept-alive connection: every client connects, sends
// GET <path>, waits for the answer and sends a second request on the same connection. All
// connections stay open until every client has both answers or the deadline passes, so the
// server holds N connections at the same time (a server that gives each connection a thread
// answers only as many as it has threads).
// Usage: node keepalive-clients.js <url> [clients=1000] [deadline seconds=10]
// Prints "answered A of N (both requests on one connection within D s)".
const net = require('node:net');

const [urlArg, clientsArg, deadlineArg] = process.argv.slice(2);
if (!urlArg) {
  console.error('usage: node keepalive-clients.js <url> [clients] [deadline seconds]');
  process.exit(2);
}
const url = new URL(urlArg);
const clients = Number(clientsArg || 1000);
const deadlineSeconds = Number(deadlineArg || 10);
const request =
  `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n\r\n`;

// Whole responses in `text`: a status line, headers, and a body of Content-Length bytes.
function completeResponses(text) {
  let count = 0;
  let at = 0;
  for (;;) {
    const headersEnd = text.indexOf('\r\n\r\n', at);
    if (headersEnd < 0) return count;
    const head = text.slice(at, headersEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const end = headersEnd + 4 + (length ? Number(length[1]) : 0);
    if (text.length < end) return count;
    if (!/^HTTP\/1\.1 200 /.test(head)) return count;
    count += 1;
    at = end;
  }
}

const sockets = [];
let answered = 0;
let settled = 0;
let finish;
const allSettled = new Promise((resolve) => { finish = resolve; });
const settle = () => { if (++settled === clients) finish(); };

for (let i = 0; i < clients; i++) {
  const socket = net.connect(Number(url.port), url.hostname);
  sockets.push(socket);
  let received = '';
  let sent = 0;
  let done = false;
  const end = (ok) => {
    if (done) return;
    done = true;
    if (ok) answered += 1;
    settle();
  };
  socket.setEncoding('latin1');
  socket.on('connect', () => { socket.write(request); sent = 1; });
  socket.on('data', (chunk) => {
    received += chunk;
    const responses = completeResponses(received);
    if (responses >= 2) end(true);
    else if (responses === 1 && sent === 1) { socket.write(request); sent = 2; }
  });
  socket.on('error', () => end(false));
  socket.on('close', () => end(false));
}

const timer = setTimeout(finish, deadlineSeconds * 1000);
allSettled.then(() => {
  clearTimeout(timer);
  console.log(`answered ${answered} of ${clients} (both requests on one connection within ${deadlineSeconds} s)`);
  for (const socket of sockets) socket.destroy();
});
