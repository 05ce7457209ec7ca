// Node's socket.io server for `python -m kit.bench fanout --server node`: the reference the
// Python servers are compared with, measured with the same clients.
//
//   node fanout_server.mjs
//
// It listens on 127.0.0.1 (a free port), puts every client in the room "audience", and obeys
// one command per line on stdin, answering one line of JSON on stdout:
//
//   (at start)      {"listening": PORT}
//   room            {"room": N}                       clients in the room
//   broadcast M     {"started": S, "cpu_started": S, "ended": S}
//                   emits M ticks {"seq", "sent"} to the room, as the Python servers do
//   cpu             {"cpu": S, "peak_rss": BYTES, "drops": {REASON: N}}
//                   this process's CPU seconds, peak RSS, connections ended by reason
//
// Times are seconds since the epoch (Date.now() / 1000, the clients' clock too). It exits
// when stdin closes.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";

const ROOM = "audience";
const httpServer = createServer();
const io = new Server(httpServer, { cors: { origin: "*" } });
const drops = {};
io.on("connection", (socket) => {
  socket.join(ROOM);
  socket.on("disconnect", (reason) => {
    drops[reason] = (drops[reason] ?? 0) + 1;
  });
});

let peak = process.memoryUsage().rss;
setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 50).unref();
const cpu = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
};
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");

httpServer.listen(0, "127.0.0.1", () => say({ listening: httpServer.address().port }));
const commands = createInterface({ input: process.stdin });
commands.on("line", (line) => {
  const [command, argument] = line.trim().split(" ");
  if (command === "room") {
    say({ room: io.sockets.adapter.rooms.get(ROOM)?.size ?? 0 });
  } else if (command === "broadcast") {
    const cpuStarted = cpu();
    const started = Date.now() / 1000;
    for (let seq = 0; seq < Number(argument); seq++) {
      io.to(ROOM).emit("tick", { seq, sent: Date.now() / 1000 });
    }
    say({ started, cpu_started: cpuStarted, ended: Date.now() / 1000 });
  } else if (command === "cpu") {
    say({ cpu: cpu(), peak_rss: Math.max(peak, process.memoryUsage().rss), drops });
  } else {
    say({ error: `unknown command ${JSON.stringify(line)}` });
  }
});
commands.on("close", () => {
  io.close();
  process.exit(0);
});
