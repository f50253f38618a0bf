// jsonapi.mjs OP URL [FILE]: jsonapi.py's twin, with node's built-in
// fetch: the gateway's JSON API as a node program uses it. The listing
// asks for JSON with ?format=json where jsonapi.py sends Accept.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

const [op, url, file] = process.argv.slice(2);
const headers = {};
if (process.env.FTPGW_TOKEN) headers.Authorization = "Bearer " + process.env.FTPGW_TOKEN;
const init = { method: "GET", headers };
let target = url;
if (op === "list") target = url + "?format=json";
if (op === "put") {
  init.method = "PUT";
  init.body = await readFile(file);
}
if (op === "delete") init.method = "DELETE";
const resp = await fetch(target, init);
const body = Buffer.from(await resp.arrayBuffer());
const out = { status: resp.status, content_type: resp.headers.get("content-type") ?? "" };
if (op === "list" && resp.status === 200) {
  out.names = JSON.parse(body.toString("utf8")).entries.map((e) => e.name + (e.type === "dir" ? "/" : ""));
} else if (op === "get") {
  out.sha256 = createHash("sha256").update(body).digest("hex");
}
console.log(JSON.stringify(out));
