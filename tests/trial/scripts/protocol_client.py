"""A command trial that speaks the JSON-lines protocol with no lrsearch import (socket, json)."""

import json
import os
import socket
import sys

sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(os.environ["LRSEARCH_TRIAL_SOCKET"])
stream = sock.makefile("rwb")


def ask(message):
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()
    return json.loads(stream.readline())


bad = ask({"op": "report", "step": 0, "metrics": {"score": 1.0}})
assert bad["ok"] is False and "hello" in bad["error"], bad
sock.close()
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(os.environ["LRSEARCH_TRIAL_SOCKET"])
stream = sock.makefile("rwb")
hello = ask({"op": "hello", "token": os.environ["LRSEARCH_TRIAL_TOKEN"]})
trial = hello["trial"]
assert "LRSEARCH_STORAGE_URL" not in os.environ and "LRSEARCH_API_TOKEN" not in os.environ
lr = trial["schedule"]["lr"]
for step in range(3):
    answer = ask({"op": "report", "step": step, "metrics": {"score": lr * (step + 1)}})
    assert answer["ok"], answer
    if answer["prune"]:
        sys.exit(0)
print("trial", trial["number"], trial["optimizer"], trial["schedule"]["family"])
