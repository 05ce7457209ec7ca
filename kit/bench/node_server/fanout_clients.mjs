// The official socket.io client (socket.io-client 4.8.1) as `python -m kit.bench fanout`'s
// audience: a share of the clients in one Node process, which is much lighter per delivery
// than python-socketio's client, so that the clients keep up and a loss is the server's.
//
//   node fanout_clients.mjs '{"url": ..., "clients": N, "messages": M, ...}'
//
// The plan is kit.bench.fanout.ClientsPlan as JSON (url, urls, clients, messages,
// transport, concurrency, connect_timeout, quiet_seconds, first). Client i (numbered from
// `first`) connects to urls[i % urls.length] (or url) with that one transport and no
// reconnection, at most `concurrency` at a time. It answers on stdout, one line of JSON
// each, with the fields of kit.bench.fanout.ClientsReport:
//
//   (when all tried)  {"connected": {...}}
//   collect S         {"received": {...}}  after every delivery, a quiet spell of
//                                          quiet_seconds, or S seconds
//   disconnect        {"closed": N}        every client disconnected; then it exits
//
// Latencies are Date.now() / 1000 minus the "sent" stamp, as in the Python clients. It
// also disconnects and exits when stdin closes.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const plan = JSON.parse(process.argv[2]);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const now = () => Date.now() / 1000;
const cpu = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
};

const sockets = [];
const sequences = [];
const latencies = [];
const dropReasons = new Map();
let received = 0;
let firstReceived = null; // [wall, cpu]
let lastReceived = null;
let lastCpu = 0;
let tearingDown = false;

function connectOne(index) {
  const urls = plan.urls.length ? plan.urls : [plan.url];
  const url = urls[(plan.first + index) % urls.length];
  const sequence = [];
  sequences.push(sequence);
  return new Promise((resolve) => {
    const socket = io(url, {
      transports: [plan.transport],
      reconnection: false,
      forceNew: true,
      timeout: plan.connect_timeout * 1000,
    });
    sockets.push(socket);
    socket.on("tick", (data) => {
      const at = now();
      if (firstReceived === null) firstReceived = [at, cpu()];
      sequence.push(data.seq);
      latencies.push(at - data.sent);
      received += 1;
      lastReceived = at;
      lastCpu = cpu();
    });
    socket.once("connect", () => resolve(null));
    socket.once("connect_error", (error) => resolve(`connect_error: ${error.message}`));
    socket.on("disconnect", (reason) => {
      if (!tearingDown) dropReasons.set(reason, (dropReasons.get(reason) ?? 0) + 1);
    });
  });
}

async function connectAll() {
  const started = performance.now();
  const errors = [];
  let next = 0;
  async function worker() {
    while (next < plan.clients) {
      const error = await connectOne(next++);
      if (error !== null) errors.push(error);
    }
  }
  const workers = Math.max(1, Math.min(plan.concurrency, plan.clients));
  await Promise.all(Array.from({ length: workers }, worker));
  const connected = plan.clients - errors.length;
  return {
    connected,
    connect_failures: errors.length,
    first_connect_error: errors[0] ?? "",
    connect_seconds: (performance.now() - started) / 1000,
    processes: [[process.pid, connected]],
  };
}

function report(connect) {
  let distinct = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  for (const sequence of sequences) {
    const got = new Set(sequence.filter((seq) => seq >= 0 && seq < plan.messages));
    distinct += got.size;
    duplicates += sequence.length - new Set(sequence).size;
    let highest = -1;
    for (const seq of sequence) {
      if (seq < highest) outOfOrder += 1;
      highest = Math.max(highest, seq);
    }
  }
  let busy = null;
  if (firstReceived !== null && lastReceived !== null && lastReceived > firstReceived[0]) {
    busy = (lastCpu - firstReceived[1]) / (lastReceived - firstReceived[0]);
  }
  const reasons = [...dropReasons.entries()].sort((a, b) => b[1] - a[1]);
  return {
    ...connect,
    received,
    distinct,
    duplicates,
    out_of_order: outOfOrder,
    dropped_connections: reasons.reduce((sum, [, count]) => sum + count, 0),
    drop_reasons: reasons,
    last_received: lastReceived,
    busy_fraction: busy,
    latencies,
  };
}

function collect(connect, maxSeconds) {
  const expected = connect.connected * plan.messages;
  const giveUp = performance.now() + maxSeconds * 1000;
  let seen = received;
  let quietSince = performance.now();
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const at = performance.now();
      if (received !== seen) {
        seen = received;
        quietSince = at;
      }
      if (
        received >= expected ||
        at - quietSince >= plan.quiet_seconds * 1000 ||
        at >= giveUp
      ) {
        clearInterval(timer);
        resolve(report(connect));
      }
    }, 20);
  });
}

function closeAll() {
  tearingDown = true;
  let closed = 0;
  for (const socket of sockets) {
    if (socket.connected) closed += 1;
    socket.disconnect();
  }
  return closed;
}

const commands = createInterface({ input: process.stdin });
const lines = [];
let waiting = null;
commands.on("line", (line) => {
  if (waiting) {
    const resolve = waiting;
    waiting = null;
    resolve(line.trim());
  } else {
    lines.push(line.trim());
  }
});
commands.on("close", () => {
  closeAll();
  setTimeout(() => process.exit(0), 200);
});
const nextCommand = () =>
  lines.length ? Promise.resolve(lines.shift()) : new Promise((resolve) => (waiting = resolve));

const connect = await connectAll();
say({ connected: connect });
const [command, argument] = (await nextCommand()).split(" ");
if (command === "collect") {
  say({ received: await collect(connect, Number(argument)) });
  await nextCommand(); // "disconnect": the benchmark has its figures
}
say({ closed: closeAll() });
setTimeout(() => process.exit(0), 200);
