# jsonapi.py OP URL [FILE]: the gateway's JSON API as a Python program uses
# it, with urllib from the standard library only. OP is list (GET of a
# directory, asking for JSON with Accept), get (GET of a file), put (PUT of
# FILE's bytes) or delete. It prints one JSON object: the status, and for
# list the entries' names (directories with a trailing "/"), for get the
# SHA-256 of the body. FTPGW_TOKEN, when set, is sent as a bearer token.
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

op, url = sys.argv[1], sys.argv[2]
headers = {}
if os.environ.get("FTPGW_TOKEN"):
    headers["Authorization"] = "Bearer " + os.environ["FTPGW_TOKEN"]
data, method = None, "GET"
if op == "list":
    headers["Accept"] = "application/json"
elif op == "put":
    method = "PUT"
    with open(sys.argv[3], "rb") as f:
        data = f.read()
elif op == "delete":
    method = "DELETE"
req = urllib.request.Request(url, data=data, method=method, headers=headers)
try:
    with urllib.request.urlopen(req, timeout=30) as resp:
        status, ctype, body = resp.status, resp.headers.get("Content-Type", ""), resp.read()
except urllib.error.HTTPError as e:
    status, ctype, body = e.code, e.headers.get("Content-Type", ""), e.read()
out = {"status": status, "content_type": ctype}
if op == "list" and status == 200:
    out["names"] = [e["name"] + ("/" if e["type"] == "dir" else "") for e in json.loads(body)["entries"]]
elif op == "get":
    out["sha256"] = hashlib.sha256(body).hexdigest()
print(json.dumps(out))
