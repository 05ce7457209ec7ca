// The official socket.io client through a tap that cuts its connection, one JSON line per step:
//
//   node tests/js/scratch_recovery.mjs http://127.0.0.1:TAP_PORT
//
// It connects over WebSocket, joins "room one", waits for the room's welcome (the first
// broadcast: its offset is where recovery starts) and prints {"step":"joined",...}; the test
// then cuts the connection at the tap and emits to the room while the client is away. The
// client reconnects by itself and prints {"step":"reconnected",...} with socket.recovered,
// then, a moment later, {"step":"done",...} with every "news" it got and its rooms. Exit 2
// on a timeout, never a hang.
import { io } from "socket.io-client";

const [url] = process.argv.slice(2);
const say = (line) => console.log(JSON.stringify(line));
setTimeout(() => {
  say({ step: "timeout", after: 15000 });
  process.exit(2);
}, 15000).unref();

const socket = io(url, {
  transports: ["websocket"],
  reconnectionDelay: 100,
  reconnectionDelayMax: 200,
  randomizationFactor: 0,
});
const news = [];
let firstNews;
const gotNews = new Promise((resolve) => (firstNews = resolve));
socket.on("news", (text) => {
  news.push(text);
  firstNews();
});
let connections = 0;
socket.on("connect", async () => {
  connections += 1;
  if (connections === 1) {
    const rooms = await socket.emitWithAck("join", "room one");
    await gotNews; // a broadcast carries the offset the client will recover from
    say({ step: "joined", id: socket.id, recovered: socket.recovered ?? null, rooms });
    return;
  }
  say({ step: "reconnected", id: socket.id, recovered: socket.recovered ?? null });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const rooms = await socket.emitWithAck("rooms");
  say({ step: "done", news, rooms });
  socket.disconnect();
  process.exit(0);
});
socket.on("disconnect", (reason) => say({ step: "disconnected", reason }));
