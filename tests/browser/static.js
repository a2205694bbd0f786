// A plain static server for the package and sub-path tests: `root` served under the path `under`
// (anything else outside it 404s, as on a host that serves a project page), the synthetic weights
// at /weights/, the fixtures at /fixtures/ and an empty /blank.html; `requests` records every
// path asked for.

import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { FIXTURES } from "./harness.js";

const TYPES = {
  ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
  ".png": "image/png", ".json": "application/json", ".ts": "text/plain",
};

export async function serveStatic(weightsDir, { root, under = "/" }) {
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    requests.push(path);
    if (path === "/blank.html") {
      res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>blank</title>");
      return;
    }
    let file = null;
    if (path.startsWith("/fixtures/")) file = join(FIXTURES, path.slice(10));
    else if (path.startsWith("/weights/")) file = join(weightsDir, path.slice(9));
    else if (path.startsWith(under)) {
      const rest = path.slice(under.length);
      file = join(root, rest === "" || rest.endsWith("/") ? rest + "index.html" : rest);
    }
    if (!file || !existsSync(normalize(file)) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "content-length": statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, base: `http://127.0.0.1:${server.address().port}`, requests };
}
