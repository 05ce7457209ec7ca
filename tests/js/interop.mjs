// The article's two pages, as one Node script with the official socket.io client:
// index.js talks on "/post", message.js listens on "/get".
//
//   node tests/js/interop.mjs http://127.0.0.1:PORT [timeout-ms]
//
// It connects to both namespaces (one shared connection), waits for each greeting,
// emits "recive message" with an ack on both, and waits for the server's broadcasts on
// "/get". It prints one line of JSON and exits 0; on timeout it prints what it saw and
// exits 2, so it never hangs a test.
import { io } from "socket.io-client";

const [url, timeoutArgument = "5000"] = process.argv.slice(2);
if (!url) {
  console.error("usage: node interop.mjs http://127.0.0.1:PORT [timeout-ms]");
  process.exit(64);
}

const seen = { "/post": [], "/get": [] };
const waiting = [];
setTimeout(() => {
  console.log(JSON.stringify({ error: `timeout after ${timeoutArgument} ms`, seen }));
  process.exit(2);
}, Number(timeoutArgument)).unref();

function record(namespace, data) {
  seen[namespace].push(data);
  for (const check of waiting.splice(0)) check();
}

function until(condition) {
  return new Promise((resolve) => {
    const check = () => (condition() ? resolve() : waiting.push(check));
    check();
  });
}

const post = io(`${url}/post`, { reconnection: false });
const get = io(`${url}/get`, { reconnection: false });
post.on("new message", (data) => record("/post", data));
get.on("new message", (data) => record("/get", data));
post.on("connect_error", (error) => record("/post", { connect_error: error.message }));

await until(() => seen["/post"].length >= 1 && seen["/get"].length >= 1);
const engine = post.io.engine;
if (engine.transport.name !== "websocket") {
  await new Promise((resolve) => engine.once("upgrade", resolve));
}
const acks = {
  post: await post.timeout(3000).emitWithAck("recive message", { message: "from /post", time: 1 }),
  get: await get.timeout(3000).emitWithAck("recive message", { message: "from /get", time: 2 }),
};
await until(() => seen["/get"].length >= 3);

const result = {
  welcome: { post: seen["/post"][0], get: seen["/get"][0] },
  acks,
  broadcasts: seen["/get"].slice(1),
  postReceived: seen["/post"].length,
  ids: { post: post.id, get: get.id },
  oneConnection: post.io === get.io,
  transport: engine.transport.name,
};
post.disconnect();
get.disconnect();
console.log(JSON.stringify(result));
