// Minimal Dialogic/Watson pre-message webhook receiver (Node 18+, no dependencies).
// Run: WEBHOOK_SECRET='purple unicorn' node receiver.mjs   (listens on :3000)
import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";

const secret = process.env.WEBHOOK_SECRET ?? "";
const key = secret.startsWith("whsec_") ? Buffer.from(secret.slice(6), "base64") : Buffer.from(secret);
const same = (a, b) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

function verified(h, raw) {
  const [id, ts, sigs = ""] = [h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"]];
  if (!id || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const mac = createHmac("sha256", key).update(`${id}.${ts}.`).update(raw).digest("base64");
  return sigs.split(" ").some((s) => same(s, `v1,${mac}`));
}

createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c)).on("end", () => {
    const raw = Buffer.concat(chunks); // verify the raw bytes, before JSON.parse
    if (!verified(req.headers, raw)) return res.writeHead(401).end();
    const { payload } = JSON.parse(raw);
    if (payload.input?.text) payload.input.text = payload.input.text.trim();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ payload }));
  });
}).listen(Number(process.env.PORT ?? 3000));
