"""The minimal webhook receiver of docs/events.md, run as written against a real
`omnex serve`: it accepts the server's signed deliveries and refuses forgeries."""

import hashlib
import hmac
import json
import re
import threading
import time
import urllib.request
from http.server import HTTPServer
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
SECRET = "whsec_receiver_test_0123456789"


def receiver_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    (code,) = [b for b in blocks if "class Receiver" in b]
    return code.replace('b"whsec_replace_with_your_secret"', f'b"{SECRET}"')


def request(server: str, method: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        server + path,
        method=method,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": "Bearer py-test-key"},
    )
    with urllib.request.urlopen(req) as res:
        text = res.read()
        return json.loads(text) if text else {}


def test_the_documented_receiver_verifies_real_deliveries(server, ns):
    scope: dict = {"__name__": "receiver"}
    exec(compile(receiver_code(), str(DOC), "exec"), scope)  # noqa: S102 - our own docs
    httpd = HTTPServer(("127.0.0.1", 0), scope["Receiver"])
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/omnex"
        hook = request(server, "POST", "/api/v1/webhooks", {"url": url, "secret": SECRET, "namespaces": [ns]})
        request(server, "PUT", f"/api/v1/contexts/{ns}/greeting", {"value": {"text": "hello"}})
        deadline = time.time() + 30
        while not scope["seen"] and time.time() < deadline:
            time.sleep(0.05)
        assert len(scope["seen"]) == 1, "the signed delivery was accepted"
        request(server, "DELETE", f"/api/v1/webhooks/{hook['id']}", {})
    finally:
        httpd.shutdown()

    verify = scope["verify"]
    body = b'{"seq":1}'
    now = str(int(time.time()))
    good = "v1=" + hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert verify(now, good, body)
    assert not verify(now, good, b'{"seq":2}'), "a changed body is refused"
    old = str(int(now) - 301)
    replayed = "v1=" + hmac.new(SECRET.encode(), f"{old}.".encode() + body, hashlib.sha256).hexdigest()
    assert not verify(old, replayed, body), "an old delivery cannot be replayed"
    assert not verify("soon", good, body)
