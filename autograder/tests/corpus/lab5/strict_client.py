"""A strict HTTP/1.1 client (httpx on h11) fetching files from a lab 5 server.

Usage: python3 strict_client.py PORT ROOT URL=FILE...

Fetches every URL over one keep-alive connection with httpx, whose HTTP/1.1 engine (h11)
rejects malformed framing, and compares each body with the file below ROOT. Prints
"OK n" on success; exits 3 if httpx is not installed (the test then skips, or fails
under CI).
"""
import os
import sys

try:
    import httpx
except ImportError:
    print("httpx is not installed (pip install httpx)")
    sys.exit(3)

port, root, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
base = f"http://127.0.0.1:{port}"
connections = set()
with httpx.Client(http2=False, timeout=10.0, headers={"Accept-Encoding": "identity"}) as client:
    for _ in range(2):  # twice: the second round reuses the kept-alive connection
        for pair in pairs:
            url, _, name = pair.partition("=")
            response = client.get(base + url)
            response.raise_for_status()
            with open(os.path.join(root, name), "rb") as f:
                expected = f.read()
            if response.content != expected:
                print(f"{url}: {len(response.content)} bytes, expected {len(expected)}")
                sys.exit(1)
            if response.headers.get("content-length") != str(len(expected)):
                print(f"{url}: Content-Length {response.headers.get('content-length')}")
                sys.exit(1)
            stream = response.extensions.get("network_stream")
            if stream is not None:
                connections.add(id(stream))
print(f"OK {len(pairs)} (over {len(connections) or 'unknown'} connection(s))")
