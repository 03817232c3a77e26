// Slowloris flood for test/server/slowloris.test.ts, run as its own process so its sockets
// do not count against the server's descriptors. Opens COUNT connections to HOST:PORT from
// ADDRESSES source addresses (127.0.0.1, 127.0.0.2, ...), each sending part of a request's
// headers and then one more byte every TRICKLE_MS, never finishing; at most RATE new
// connections a second (0: as fast as connects complete). Prints one JSON
// line when every connection has been attempted, and stays until killed.
import { connect } from 'node:net';

const [host, port, count, addresses, trickleMs, rate = '0'] = process.argv.slice(2);
const total = Number(count);
const sources = Array.from({ length: Number(addresses) }, (_, i) => `127.0.0.${i + 1}`);
const CONCURRENT_CONNECTS = 256;
let started = 0;
let connected = 0;
let closed = 0;
let errors = 0;
let got503 = 0;
let connecting = 0;
const open = new Set();

function one() {
  const i = started++;
  connecting++;
  const s = connect({ host, port: Number(port), localAddress: sources[i % sources.length] });
  let settled = false;
  const settle = () => {
    if (settled) return;
    settled = true;
    connecting--;
    pump();
  };
  s.on('connect', () => {
    connected++;
    open.add(s);
    s.write('GET /api/v1/pods HTTP/1.1\r\nHost: capstan\r\nX-Slow: ');
    settle();
  });
  s.on('data', (d) => {
    if (d.toString('latin1').startsWith('HTTP/1.1 503')) got503++;
  });
  s.on('error', () => {
    errors++;
  });
  s.on('close', () => {
    closed++;
    open.delete(s);
    settle();
  });
}

let budget = Number(rate) > 0 ? 0 : Infinity;
if (Number(rate) > 0) {
  setInterval(() => {
    budget = Number(rate) / 50;
    pump();
  }, 20).unref();
}

function pump() {
  while (connecting < CONCURRENT_CONNECTS && started < total && budget >= 1) {
    budget--;
    one();
  }
  if (started === total && connecting === 0 && !pump.reported) {
    pump.reported = true;
    process.stdout.write(`${JSON.stringify({ attempted: started, connected, closed, errors, got503, open: open.size })}\n`);
  }
}

setInterval(() => {
  for (const s of open) s.write('a');
}, Number(trickleMs)).unref();
setInterval(() => {}, 1 << 30);
pump();
