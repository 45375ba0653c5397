"""A bounded connection flood for the hostile-client tests: one process holds N
connections to a port open, sending nothing (silent) or the first bytes of a toy-TLS
ClientHello and then nothing (stalled handshake), and reopens every connection the
server closes, until it is stopped. It counts what the server closed."""

import errno
import multiprocessing
import resource
import selectors
import socket
import struct
import time

# A record header announcing a 200-byte ClientHello, then 10 bytes of it: a handshake
# that never completes.
STALLED_HELLO = struct.pack(">I", 200) + bytes(10)


def raise_nofile(want):
    """Raises this process's soft RLIMIT_NOFILE to want (within the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _open(sel, port, first_bytes):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex(("127.0.0.1", port))
    if err not in (0, errno.EINPROGRESS):
        s.close()
        return False
    sel.register(s, selectors.EVENT_WRITE if first_bytes else selectors.EVENT_READ,
                 bool(first_bytes))
    return True


def _run(port, n, first_bytes, stop, opened, closed, seconds):
    raise_nofile(n + 256)
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + seconds
    live = 0
    while live < n and not stop.is_set():
        if _open(sel, port, first_bytes):
            live += 1
            opened.value += 1
        else:
            time.sleep(0.001)
    while not stop.is_set() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            if key.data:  # connected: send the first bytes once, then only read
                try:
                    s.send(first_bytes)
                    sel.modify(s, selectors.EVENT_READ, False)
                    continue
                except OSError:
                    pass
            else:
                try:
                    if s.recv(4096):
                        continue
                except BlockingIOError:
                    continue
                except OSError:
                    pass
            sel.unregister(s)
            s.close()
            closed.value += 1
            while not stop.is_set() and not _open(sel, port, first_bytes):
                time.sleep(0.001)
            opened.value += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    sel.close()


class Flood:
    """n connections to 127.0.0.1:port held by a child process for at most seconds;
    first_bytes are sent once on each (b"": a silent connection)."""

    def __init__(self, port, n, first_bytes=b"", seconds=120):
        ctx = multiprocessing.get_context("fork")
        self.stop_event = ctx.Event()
        self.opened = ctx.Value("l", 0, lock=False)
        self.closed = ctx.Value("l", 0, lock=False)
        self.n = n
        self.proc = ctx.Process(target=_run, args=(port, n, first_bytes, self.stop_event,
                                                   self.opened, self.closed, seconds),
                                daemon=True)

    def __enter__(self):
        self.proc.start()
        return self

    def wait_open(self, timeout=60):
        """Waits until all n connections were opened once."""
        deadline = time.monotonic() + timeout
        while self.opened.value < self.n:
            if time.monotonic() > deadline or not self.proc.is_alive():
                raise AssertionError("the flood opened %d of %d connections"
                                     % (self.opened.value, self.n))
            time.sleep(0.05)

    def __exit__(self, *exc):
        self.stop_event.set()
        self.proc.join(timeout=20)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        return False
