// The official socket.io client against a server under test, one transport setting:
//
//   node tests/js/scratch_clients.mjs http://127.0.0.1:PORT polling|websocket|upgrade
//
// Two clients connect (ann on "/" and "/custom", bob on "/"); they echo with an ack, send
// bytes, join a room and talk in it, answer a question the server asks, and ann is
// kicked by the server. One line of JSON on stdout; exit 2 on a timeout, never a hang.
import { io } from "socket.io-client";

const [url, mode] = process.argv.slice(2);
const transports = { polling: ["polling"], websocket: ["websocket"], upgrade: ["polling", "websocket"] }[mode];
const options = { transports, reconnection: false, forceNew: true };
setTimeout(() => {
  console.log(JSON.stringify({ error: "timeout after 8000 ms", mode }));
  process.exit(2);
}, 8000).unref();

const once = (socket, event) => new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
const ack = (socket, ...args) => new Promise((resolve) => socket.emit(...args, (...answer) => resolve(answer)));

const ann = io(url, options);
const annWelcome = await once(ann, "welcome");
const custom = ann.io.socket("/custom");
custom.connect();
await once(custom, "connect");
const bob = io(url, options);
await once(bob, "welcome");
if (mode === "upgrade" && ann.io.engine.transport.name !== "websocket") {
  await new Promise((resolve) => ann.io.engine.once("upgrade", resolve));
}

const result = { mode, welcome: annWelcome[0].sid === ann.id, transport: ann.io.engine.transport.name };
result.echo = await ack(ann, "echo", 1, "two", { 3: [true] });
result.customEcho = await ack(custom, "echo", "on custom");
result.idsDiffer = custom.id !== ann.id;
ann.emit("bytes", Buffer.from([0, 1, 255]));
const [back] = await once(ann, "bytes back");
result.bytes = { reversed: [...back.reversed], size: back.size };
result.rooms = [await ack(ann, "join", "room one"), await ack(bob, "join", "room one")];
const heard = once(bob, "said");
result.say = await ack(ann, "say", "room one", "hello room");
result.heard = (await heard)[0];
const asked = new Promise((resolve) =>
  ann.on("question", (question, callback) => {
    callback(question.toUpperCase());
    resolve(question);
  }),
);
ann.emit("ask me", "why?");
result.asked = await asked;
const kicked = once(ann, "disconnect");
ann.emit("kick me");
result.kicked = (await kicked)[0];
bob.disconnect();
custom.disconnect();
console.log(JSON.stringify(result));
process.exit(0);
