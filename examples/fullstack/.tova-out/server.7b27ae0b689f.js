// fullstack: the server bundle of a berth example, in the layout of
// `tova build --production` (server.js imports server.<hash>.js). Like
// Tova's production server it reads PORT, listens on every interface,
// answers its routes and `POST /rpc/<fn>`, and a JSON 404 otherwise.
// Hand-written for berth's tests; not Tova's runtime.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const port = Number(process.env.PORT || 3000);
let release = "dev";
try {
  release = JSON.parse(readFileSync(join(import.meta.dir, ".tova-manifest.json"), "utf8")).version;
} catch (_) {}
const json = (body, status = 200) => Response.json(body, { status });
const notFound = () => json({ error: { code: "NOT_FOUND", message: "Not Found" } }, 404);
import { Database } from "bun:sqlite";

// `db { path: "./fullstack.db" }`: opened relative to the working directory.
const db = new Database("./fullstack.db");
db.run("PRAGMA journal_mode=WAL");
db.run("CREATE TABLE IF NOT EXISTS visits (n INTEGER NOT NULL)");

function get_message() {
  db.run("INSERT INTO visits (n) VALUES (1)");
  const visits = db.query("SELECT COUNT(*) AS c FROM visits").get().c;
  return { text: "Hello from Tova!", timestamp: new Date().toLocaleTimeString(), visits, release };
}

const routes = {
  "GET /api/message": () => json(get_message()),
  "GET /healthz": () => json("ok"),
};

Bun.serve({
  port,
  async fetch(req) {
    const url = new URL(req.url);
    if (req.method === "POST" && url.pathname === "/rpc/get_message") return json({ result: get_message() });
    const handler = routes[`${req.method} ${url.pathname}`];
    return handler ? handler(req) : notFound();
  },
});
console.log(`Tova server running on http://localhost:${port}/`);
