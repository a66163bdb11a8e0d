// The todo example's server bundle: dependency-free, runs under Bun
// (Bun.serve, with a WebSocket echo on /ws) or Node (node:http, WebSocket
// handshake on /ws). Listens on 127.0.0.1, port --port N (or $PORT);
// answers /healthz and /. Never prints secret values.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const argPort = process.argv.indexOf("--port");
const port = Number(argPort > 0 ? process.argv[argPort + 1] : process.env.PORT || 3000);
// Releases live in /opt/tova/apps/<app>/releases/vN: the app is named by the path.
const app = __dirname.includes("/releases/") ? path.basename(path.resolve(__dirname, "..", "..")) : "todo";
let release = "dev";
try {
  release = JSON.parse(fs.readFileSync(path.join(__dirname, ".tova-manifest.json"), "utf8")).version;
} catch (_) {}
const configured = ["DATABASE_URL", "REDIS_URL", "JWT_SECRET"].filter((k) => !!process.env[k]);

function route(url) {
  if (url === "/healthz") return { status: 200, type: "text/plain", body: "ok\n" };
  if (url === "/page") {
    // The HTML document that references this release's /c/* modules.
    return { status: 200, type: "text/html; charset=utf-8", body: fs.readFileSync(path.join(__dirname, "public", "index.html"), "utf8") };
  }
  if (url === "/") return { status: 200, type: "application/json", body: JSON.stringify({ app, release, port, configured }) + "\n" };
  return { status: 404, type: "text/plain", body: "not found\n" };
}

function started() {
  console.log(`${app} ${release} listening on 127.0.0.1:${port} (configured: ${configured.join(", ") || "none"})`);
}

if (typeof Bun !== "undefined") {
  Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch(req, server) {
      const url = new URL(req.url).pathname;
      if (url === "/ws" && server.upgrade(req)) return undefined;
      const r = route(url);
      return new Response(r.body, { status: r.status, headers: { "content-type": r.type } });
    },
    websocket: {
      message(ws, message) {
        ws.send(message);
      },
    },
  });
  started();
} else {
  const http = require("node:http");
  const crypto = require("node:crypto");
  const server = http.createServer((req, res) => {
    const r = route(req.url);
    res.writeHead(r.status, { "content-type": r.type });
    res.end(r.body);
  });
  server.on("upgrade", (req, socket) => {
    const key = req.headers["sec-websocket-key"];
    if (req.url !== "/ws" || !key) {
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      return;
    }
    const accept = crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n");
  });
  server.listen(port, "127.0.0.1", started);
}
