"""Tiny IMAP4rev1 and POP3 servers on loopback, speaking just what a mailbox reader needs (RFC 3501, RFC 1939).

The real bounce mailbox is outside the machine; these hold a few messages in memory and
record what the client did (flags, deletions), so the reader is tested over real sockets.
"""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Stored:
    raw: bytes
    uid: int
    seen: bool = False
    deleted: bool = False


@dataclass
class Box:
    user: str = "rebotes"
    password: str = "s3cret pass"
    messages: list[Stored] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def add(self, raw: bytes) -> None:
        self.messages.append(Stored(raw, len(self.messages) + 1))


_ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')


def _args(line: bytes) -> list[bytes]:
    return [(m.group(1).replace(b'\\"', b'"').replace(b"\\\\", b"\\") if m.group(1) is not None else m.group(2))
            for m in _ARG.finditer(line)]


class _Imap(socketserver.StreamRequestHandler):
    box: Box

    def send(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")

    def handle(self) -> None:
        box = self.server.box  # type: ignore[attr-defined]
        self.send(b"* OK [CAPABILITY IMAP4rev1] test server ready")
        authed = selected = False
        while line := self.rfile.readline():
            parts = _args(line.rstrip(b"\r\n"))
            if len(parts) < 2:
                self.send(b"* BAD no tag")
                continue
            tag, command, rest = parts[0], parts[1].upper(), parts[2:]
            box.commands.append(command.decode() + (" " + rest[0].decode() if command == b"UID" and rest else ""))
            if command == b"CAPABILITY":
                self.send(b"* CAPABILITY IMAP4rev1")
                self.send(tag + b" OK CAPABILITY completed")
            elif command == b"LOGIN":
                authed = rest[:2] == [box.user.encode(), box.password.encode()]
                self.send(tag + (b" OK LOGIN completed" if authed else b" NO [AUTHENTICATIONFAILED] bad credentials"))
            elif command == b"SELECT" and authed:
                selected = rest[:1] == [b"INBOX"]
                if not selected:
                    self.send(tag + b" NO no such folder")
                    continue
                self.send(b"* %d EXISTS" % len(box.messages))
                self.send(b"* OK [UIDVALIDITY 1] UIDs valid")
                self.send(tag + b" OK [READ-WRITE] SELECT completed")
            elif command == b"UID" and selected and rest:
                self._uid(tag, rest[0].upper(), rest[1:], box)
            elif command == b"LOGOUT":
                self.send(b"* BYE logging out")
                self.send(tag + b" OK LOGOUT completed")
                return
            else:
                self.send(tag + b" BAD unexpected command")

    def _uid(self, tag: bytes, sub: bytes, rest: list[bytes], box: Box) -> None:
        live = [m for m in box.messages if not m.deleted]
        if sub == b"SEARCH":
            wanted = [m for m in live if not (rest[:1] == [b"UNSEEN"] and m.seen)]
            self.send(b"* SEARCH" + b"".join(b" %d" % m.uid for m in wanted))
            self.send(tag + b" OK SEARCH completed")
            return
        found = [m for m in live if str(m.uid).encode() == rest[0]]
        if not found:
            self.send(tag + b" OK nothing")
            return
        message = found[0]
        seq = live.index(message) + 1
        if sub == b"FETCH":
            self.wfile.write(b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (seq, message.uid, len(message.raw))
                             + message.raw + b")\r\n")
            self.send(tag + b" OK FETCH completed")
        elif sub == b"STORE":
            if b"\\Seen" in b" ".join(rest):
                message.seen = True
            self.send(b"* %d FETCH (UID %d FLAGS (\\Seen))" % (seq, message.uid))
            self.send(tag + b" OK STORE completed")
        else:
            self.send(tag + b" BAD unknown UID command")


class _Pop3(socketserver.StreamRequestHandler):
    def send(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")

    def handle(self) -> None:
        box = self.server.box  # type: ignore[attr-defined]
        self.send(b"+OK POP3 test server ready")
        user, authed, marked = b"", False, set()
        while line := self.rfile.readline():
            command, _, arg = line.rstrip(b"\r\n").partition(b" ")
            command = command.upper()
            box.commands.append(command.decode())
            live = [m for m in box.messages if not m.deleted]
            if command == b"USER":
                user = arg
                self.send(b"+OK")
            elif command == b"PASS":
                authed = user == box.user.encode() and arg == box.password.encode()
                self.send(b"+OK logged in" if authed else b"-ERR bad credentials")
            elif command == b"STAT" and authed:
                self.send(b"+OK %d %d" % (len(live), sum(len(m.raw) for m in live)))
            elif command == b"RETR" and authed:
                message = live[int(arg) - 1]
                self.send(b"+OK %d octets" % len(message.raw))
                for text in message.raw.replace(b"\r\n", b"\n").split(b"\n"):
                    self.send(b"." + text if text.startswith(b".") else text)
                self.send(b".")
            elif command == b"DELE" and authed:
                marked.add(int(arg))
                self.send(b"+OK marked")
            elif command == b"QUIT":
                for number in marked:  # deletions happen only on a clean QUIT (RFC 1939's UPDATE state)
                    live[number - 1].deleted = True
                self.send(b"+OK bye")
                return
            else:
                self.send(b"-ERR unexpected command")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve(kind: str, box: Box) -> Iterator[int]:
    """Run an ``imap`` or ``pop3`` server for ``box`` on a free loopback port; yields the port."""
    server = _Server(("127.0.0.1", 0), _Imap if kind == "imap" else _Pop3)
    server.box = box  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
