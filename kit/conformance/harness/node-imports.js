// The Node.js harness of the official suites (their node-imports.js), plus one thing:
// when KIT_SUITE_TARGET is set (e.g. "127.0.0.1:45123"), requests the suite makes to
// http://localhost:3000 (and ws://localhost:3000) go to that address instead, so that a
// suite can run against a server on any port while its test-suite.js stays unmodified.
// Without KIT_SUITE_TARGET it is the original file: fetch, WebSocket and chai as globals.
import fetch from "node-fetch";
import { WebSocket } from "ws";
import chai from "chai";
import chaiString from "chai-string";

chai.use(chaiString);

const target = process.env.KIT_SUITE_TARGET;

function retarget(url) {
  return target ? String(url).replace("//localhost:3000", `//${target}`) : url;
}

class RetargetedWebSocket extends WebSocket {
  constructor(address, ...rest) {
    super(retarget(address), ...rest);
  }
}

globalThis.fetch = target ? (url, options) => fetch(retarget(url), options) : fetch;
globalThis.WebSocket = target ? RetargetedWebSocket : WebSocket;
globalThis.chai = chai;
