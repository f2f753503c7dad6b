"""Minimal Dialogic/Watson pre-message webhook receiver (Python 3.8+, standard library only).
Run: WEBHOOK_SECRET='purple unicorn' python3 receiver.py   (listens on :3000)"""
import base64, hashlib, hmac, json, os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("WEBHOOK_SECRET", "")
KEY = base64.b64decode(SECRET[6:]) if SECRET.startswith("whsec_") else SECRET.encode()

def verified(h, raw):
    wid, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp", "0"), h.get("webhook-signature", "")
    if not wid or not ts.isdigit() or abs(time.time() - int(ts)) > 300:
        return False
    mac = hmac.new(KEY, f"{wid}.{ts}.".encode() + raw, hashlib.sha256).digest()
    want = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(s, want) for s in sigs.split())

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))  # verify raw bytes first
        if not verified(self.headers, raw):
            return self.send_error(401)
        payload = json.loads(raw)["payload"]
        if isinstance(payload.get("input", {}).get("text"), str):
            payload["input"]["text"] = payload["input"]["text"].strip()
        body = json.dumps({"payload": payload}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("", int(os.environ.get("PORT", 3000))), Hook).serve_forever()
