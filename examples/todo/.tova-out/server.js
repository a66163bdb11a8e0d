// The todo example's server bundle: dependency-free, runs under Bun or Node.
// Listens on --port N (or $PORT); answers /healthz, / and a WebSocket
// handshake on /ws. Never prints secret values.
"use strict";
const http = require("node:http");
const crypto = require("node:crypto");
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

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
    return;
  }
  if (req.url === "/") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ app, release, port, configured }) + "\n");
    return;
  }
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found\n");
});

server.on("upgrade", (req, socket) => {
  const key = req.headers["sec-websocket-key"];
  if (req.url !== "/ws" || !key) {
    socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    return;
  }
  const accept = crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
  socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n");
  socket.end();
});

server.listen(port, "127.0.0.1", () => {
  console.log(`${app} ${release} listening on 127.0.0.1:${port} (configured: ${configured.join(", ") || "none"})`);
});
