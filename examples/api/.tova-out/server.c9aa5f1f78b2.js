// api: the server bundle of a berth example, in the layout of
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

function health() {
  return { status: "ok", release };
}

Bun.serve({
  port,
  async fetch(req) {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/api/health") return json(health());
    if (req.method === "POST" && url.pathname === "/rpc/health") return json({ result: health() });
    return notFound();
  },
});
console.log(`Tova server running on http://localhost:${port}/`);
