// The official socket.io client with every delivery option, against kit.chat_app(store=...):
//
//   node tests/js/delivery.mjs http://127.0.0.1:TAP_PORT NAME COUNT EXPECTED
//
// It connects over WebSocket with `retries` and `ackTimeout` (the client queues each emit
// and sends it again, same arguments, until acknowledged) and an `auth` FUNCTION (called
// before every connect and reconnect) that sends the last offset it saw and the store's
// id. Each message carries an id of its own ("NAME-7"), so a retry is kept once.
//
// It prints {"step":"ready"} after its first connect, then waits for a line on stdin
// before sending COUNT messages; it prints {"step":"done",...} once all are acknowledged
// and EXPECTED chat messages (everyone's) have arrived, with what arrived, in order.
// Exit 2 on a timeout (with what it had), never a hang.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, name, countText, expectedText, timeoutText] = process.argv.slice(2);
const count = Number(countText);
const expected = Number(expectedText);
const say = (line) => console.log(JSON.stringify(line));

let store = null;
let lastOffset = null;
const seen = new Set();
const received = []; // "user #n", in arrival order
let duplicatesDropped = 0;
let acked = 0;
let connects = 0;
let offsetsSent = [];

setTimeout(() => {
  say({ step: "timeout", acked, received: received.length, connects, duplicatesDropped });
  process.exit(2);
}, Number(timeoutText || 90000)).unref();

const socket = io(url, {
  transports: process.env.KIT_TRANSPORTS ? process.env.KIT_TRANSPORTS.split(",") : ["websocket"],
  reconnectionDelay: 50,
  reconnectionDelayMax: 200,
  randomizationFactor: 0,
  retries: 20,
  ackTimeout: 1000,
  auth: (send) => {
    const auth = lastOffset === null ? {} : { offset: lastOffset, store };
    offsetsSent.push(lastOffset);
    send(auth);
  },
});

let finished = false;
function maybeDone() {
  if (!finished && acked === count && received.length >= expected) {
    finished = true;
    say({ step: "done", acked, received, connects, duplicatesDropped, offsetsSent });
    socket.disconnect();
    process.exit(0);
  }
}

socket.on("new message", (data) => {
  if (data && typeof data.store === "string" && !("user" in data)) {
    if (data.store !== store) {
      store = data.store;
      lastOffset = null;
    }
    if (lastOffset === null) lastOffset = data.offset; // the welcome: the newest now
    return;
  }
  if (typeof data.offset === "number") {
    if (seen.has(data.offset)) {
      duplicatesDropped += 1;
      return;
    }
    seen.add(data.offset);
    lastOffset = Math.max(lastOffset ?? 0, data.offset);
  }
  received.push(data.mess);
  maybeDone();
});

let ready;
const first = new Promise((resolve) => (ready = resolve));
socket.on("connect", () => {
  connects += 1;
  ready();
});
socket.on("connect_error", (error) => say({ step: "connect_error", message: error.message }));

await first;
say({ step: "ready" });
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
const sends = [];
for (let n = 0; n < count; n += 1) {
  const payload = { message: `${name} #${n}`, user: name, id: `${name}-${n}` };
  sends.push(
    socket.emitWithAck("recive message", payload).then((answer) => {
      if (answer && answer.ok === true) acked += 1;
      else say({ step: "refused", n, answer });
      maybeDone();
    }),
  );
}
await Promise.allSettled(sends);
maybeDone();
