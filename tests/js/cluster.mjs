// The official socket.io client on one chat server process, exchanging messages with a
// python client on another process of the same chat (lesson 08's cluster).
//
//   node tests/js/cluster.mjs http://127.0.0.1:PORT ROOM COUNT [timeout-ms]
//
// It logs in as "node", joins ROOM, prints "ready", sends COUNT messages to the room
// ("node 0", "node 1"...), and waits for COUNT messages from "python". It prints one line
// of JSON (what it got, in order) and exits 0; on timeout it prints what it saw and
// exits 2, so it never hangs a test.
import { io } from "socket.io-client";

const [url, room, countArgument, timeoutArgument = "60000"] = process.argv.slice(2);
if (!url || !room || !countArgument) {
  console.error("usage: node cluster.mjs http://127.0.0.1:PORT ROOM COUNT [timeout-ms]");
  process.exit(64);
}
const count = Number(countArgument);
const fromPython = [];
let ownEchoes = 0;

const socket = io(url, { transports: ["websocket"], reconnection: false });
const report = (extra) =>
  JSON.stringify({ received: fromPython, ownEchoes, transport: socket.io.engine?.transport?.name, ...extra });

setTimeout(() => {
  console.log(report({ error: `timeout after ${timeoutArgument} ms` }));
  process.exit(2);
}, Number(timeoutArgument)).unref();

let finish;
const done = new Promise((resolve) => (finish = resolve));
socket.on("new message", (data) => {
  if (data.user === "python") fromPython.push(data.mess);
  else if (data.user === "node") ownEchoes += 1;
  if (fromPython.length >= count && ownEchoes >= count) finish();
});

await new Promise((resolve) => socket.once("connect", resolve));
await socket.timeout(5000).emitWithAck("add user", "node");
await socket.timeout(5000).emitWithAck("join", { room });
console.log("ready");
for (let i = 0; i < count; i += 1) {
  socket.emit("recive message", { message: `node ${i}`, room });
}
await done;
console.log(report({}));
socket.disconnect();
