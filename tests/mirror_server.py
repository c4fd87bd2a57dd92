#!/usr/bin/env python3
"""A small local HTTP mirror for testing scripts/download-weights (Python 3 standard library only).

Serves the files of one directory on 127.0.0.1 the way the download script expects a model hub to:
GET and HEAD, Content-Length, Accept-Ranges, single-range requests (206 + Content-Range, 416 past
the end), an ETag holding the file's sha256, and 404 for anything missing. Fault modes simulate
what goes wrong on real networks:

  --drop-after BYTES   the FIRST GET of each file sends its headers, then only BYTES bytes of the
                       body, then closes the connection (a dropped connection mid-transfer);
  --wrong-etag NAME    announce a wrong sha256 for file NAME (a corrupted download);
  --hub                behave like huggingface.co/.../resolve/main/: a file larger than 64 KiB
                       answers 302 with X-Linked-Size and X-Linked-ETag (sha256) and redirects to
                       /cdn/NAME, whose ETag is not a sha256; smaller files carry a 40-hex ETag
                       (a git blob id, like the Hub's non-LFS files).

The server always stops by itself after --timeout seconds (default 60) so a test can never leave it
running. With --port 0 it picks a free port; the port is printed on stdout and, with --port-file,
written (atomically) to that file once the server is listening.
"""

import argparse
import hashlib
import http.server
import os
import re
import socket
import sys
import threading
import time

HUB_LFS_THRESHOLD = 64 * 1024


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Mirror:
    def __init__(self, args):
        self.root = os.path.realpath(args.dir)
        self.drop_after = args.drop_after
        self.wrong_etag = set(args.wrong_etag or [])
        self.hub = args.hub
        self.log_path = args.log
        self.lock = threading.Lock()
        self.dropped = set()  # files whose first GET was already cut short
        self.hashes = {}  # (path, size, mtime) -> sha256
        self.last_request = time.monotonic()

    def file_path(self, name):
        """The served file for a URL path, or None when there is none."""
        if not name or name.startswith("/") or "\\" in name:
            return None
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            return None
        path = os.path.join(self.root, *parts)
        return path if os.path.isfile(path) else None

    def sha256(self, path):
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns)
        with self.lock:
            digest = self.hashes.get(key)
        if digest is None:
            digest = sha256_of(path)
            with self.lock:
                self.hashes[key] = digest
        return digest

    def first_get(self, name):
        with self.lock:
            if name in self.dropped:
                return False
            self.dropped.add(name)
            return True

    def log(self, line):
        if not self.log_path:
            return
        with self.lock:
            with open(self.log_path, "a") as f:
                f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mirror_server/1"

    def log_message(self, format, *args):  # quiet: the access log goes to --log
        pass

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def access_log(self, status, note=""):
        rng = self.headers.get("Range")
        self.mirror.log("%s %s range=%s status=%d%s" % (self.command, self.path, rng or "-", status,
                                                          " " + note if note else ""))

    def send_empty(self, status, extra=()):
        body = b"" if status < 400 else ("%d\n" % status).encode()
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.access_log(status)

    def serve(self, head):
        mirror = self.mirror
        mirror.last_request = time.monotonic()
        url_path = self.path.split("?", 1)[0]
        cdn = False
        name = url_path.lstrip("/")
        if mirror.hub and name.startswith("cdn/"):
            name, cdn = name[4:], True
        path = mirror.file_path(name)
        if path is None:
            self.send_empty(404, [("X-Error-Code", "EntryNotFound")])
            return
        size = os.path.getsize(path)
        digest = mirror.sha256(path)
        if name in mirror.wrong_etag:
            digest = hashlib.sha256(digest.encode()).hexdigest()

        headers = [("Accept-Ranges", "bytes")]
        if mirror.hub:
            if size > HUB_LFS_THRESHOLD and not cdn:
                headers = [("X-Linked-Size", str(size)), ('X-Linked-ETag', '"%s"' % digest),
                           ("ETag", '"%s"' % digest), ("Location", "/cdn/" + name)]
                self.send_empty(302, headers)
                return
            if cdn:
                headers.append(("ETag", '"%s"' % hashlib.md5(digest.encode()).hexdigest()))
            else:
                headers.append(("ETag", '"%s"' % hashlib.sha1(digest.encode()).hexdigest()))
        else:
            headers.append(("ETag", '"%s"' % digest))

        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
            if not m or (m.group(1) == "" and m.group(2) == ""):
                self.send_empty(416, [("Content-Range", "bytes */%d" % size)])
                return
            if m.group(1) == "":  # suffix range: the last N bytes
                start = max(0, size - int(m.group(2)))
            else:
                start = int(m.group(1))
                if m.group(2) != "":
                    end = min(end, int(m.group(2)))
            if start >= size or start > end:
                self.send_empty(416, [("Content-Range", "bytes */%d" % size)])
                return
            status = 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
        length = end - start + 1

        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if head:
            self.access_log(status)
            return

        limit = length
        dropping = mirror.drop_after is not None and mirror.first_get(name)
        if dropping:
            limit = min(length, mirror.drop_after)
        with open(path, "rb") as f:
            f.seek(start)
            left = limit
            while left > 0:
                block = f.read(min(left, 1 << 16))
                if not block:
                    break
                self.wfile.write(block)
                left -= len(block)
        if dropping and limit < length:
            self.wfile.flush()
            self.access_log(status, "dropped-after=%d" % limit)
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            return
        self.access_log(status)


def main():
    p = argparse.ArgumentParser(description="Serve a directory on 127.0.0.1 for download tests.")
    p.add_argument("--dir", required=True, help="directory whose files are served")
    p.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    p.add_argument("--port-file", help="write the port here once listening")
    p.add_argument("--pid-file", help="write the server's process id here")
    p.add_argument("--log", help="append one line per request here")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="stop after this many seconds in total (default 60)")
    p.add_argument("--idle-timeout", type=float, default=0,
                   help="also stop after this many seconds without a request (0 = never)")
    p.add_argument("--drop-after", type=int, metavar="BYTES",
                   help="close the first GET of each file after BYTES bytes of body")
    p.add_argument("--wrong-etag", action="append", metavar="NAME",
                   help="announce a wrong sha256 for this file (repeatable)")
    p.add_argument("--hub", action="store_true",
                   help="mimic huggingface.co: 302 + X-Linked-ETag for large files")
    args = p.parse_args()
    if not os.path.isdir(args.dir):
        p.error("no such directory: %s" % args.dir)

    mirror = Mirror(args)
    handler = type("BoundHandler", (Handler,), {"mirror": mirror})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    port = server.server_address[1]

    if args.pid_file:
        write_atomic(args.pid_file, "%d\n" % os.getpid())
    if args.port_file:
        write_atomic(args.port_file, "%d\n" % port)
    print(port, flush=True)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + args.timeout
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        if args.idle_timeout and now - mirror.last_request >= args.idle_timeout:
            break
        time.sleep(0.1)
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
