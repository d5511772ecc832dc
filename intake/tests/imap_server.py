"""A small IMAP4rev1 server on loopback for the poller's tests: asyncio, TLS with a
self-signed certificate made here (cryptography), one user, folders, UIDs, flags and
keywords, UID SEARCH/FETCH/STORE/MOVE/COPY, EXPUNGE and IDLE (RFC 2177).

It speaks just what imaplib and intake.mail.imap send, strictly enough that a wrong command
fails the test (BAD), and records the commands it was given.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "imap.crt", directory / "imap.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Stored:
    uid: int
    raw: bytes
    folder: str = "INBOX"
    flags: set[str] = field(default_factory=set)


_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\([^)]*\))|(\S+)')


def _args(text: str) -> list[str]:
    out = []
    for quoted, group, atom in _TOKEN.findall(text):
        out.append(re.sub(r"\\(.)", r"\1", quoted) if quoted else group or atom)
    return out


class FakeImap:
    def __init__(self, tmp: Path, *, user: str, password: str, idle: bool = True) -> None:
        self.user, self.password, self.idle = user, password, idle
        self.messages: list[Stored] = []
        self.folders = {"INBOX", "Done"}
        self.commands: list[str] = []
        self.lock = threading.Lock()
        self.next_uid = 1
        self._idlers: set[asyncio.StreamWriter] = set()
        self.cert, self.key = self_signed(tmp)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    # ---------------------------------------------------------------- test side

    def start(self) -> int:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", 0, ssl=context), self.loop
        )
        self.server = future.result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    def stop(self) -> None:
        async def close():
            self.server.close()
            for writer in list(self._idlers):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def client_context(self) -> ssl.SSLContext:
        """What the poller trusts in the tests: this certificate only, host name checked."""
        context = ssl.create_default_context(cafile=str(self.cert))
        return context

    def deliver(self, raw: bytes, folder: str = "INBOX") -> int:
        with self.lock:
            uid = self.next_uid
            self.next_uid += 1
            self.messages.append(Stored(uid=uid, raw=raw, folder=folder))
            count = len(self._in(folder))
        self.loop.call_soon_threadsafe(self._announce, count)
        return uid

    def flags(self, uid: int) -> set[str]:
        with self.lock:
            return next(m.flags for m in self.messages if m.uid == uid)

    def folder_of(self, uid: int) -> str | None:
        with self.lock:
            return next((m.folder for m in self.messages if m.uid == uid), None)

    # ---------------------------------------------------------------- server side

    def _in(self, folder: str) -> list[Stored]:
        return [m for m in self.messages if m.folder == folder and "\\Deleted" not in m.flags]

    def _announce(self, count: int) -> None:
        for writer in list(self._idlers):
            writer.write(f"* {count} EXISTS\r\n".encode())

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        caps = "IMAP4rev1 MOVE UIDPLUS" + (" IDLE" if self.idle else "")

        def send(text: str | bytes) -> None:
            writer.write(text if isinstance(text, bytes) else text.encode() + b"\r\n")

        send(f"* OK [CAPABILITY {caps}] fake IMAP ready")
        authed, selected = False, None
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                self.commands.append(re.sub(r"(?i)^(\S+ LOGIN \S+) .*", r"\1 ***", text))
                tag, _, rest = text.partition(" ")
                command, _, tail = rest.partition(" ")
                command = command.upper()
                if command == "UID":
                    sub, _, tail = tail.partition(" ")
                    command = "UID " + sub.upper()
                args = _args(tail)
                if command == "CAPABILITY":
                    send(f"* CAPABILITY {caps}")
                elif command == "NOOP":
                    pass
                elif command == "LOGOUT":
                    send("* BYE")
                    send(f"{tag} OK LOGOUT done")
                    await writer.drain()
                    break
                elif command == "LOGIN":
                    if args[:2] != [self.user, self.password]:
                        send(f"{tag} NO [AUTHENTICATIONFAILED] wrong")
                        continue
                    authed = True
                elif not authed:
                    send(f"{tag} BAD log in first")
                    continue
                elif command == "SELECT":
                    if not args or args[0] not in self.folders:
                        send(f"{tag} NO no such folder")
                        continue
                    selected = args[0]
                    with self.lock:
                        send(f"* {len(self._in(selected))} EXISTS")
                    send("* FLAGS (\\Seen \\Deleted \\Flagged)")
                    send("* OK [PERMANENTFLAGS (\\Seen \\Deleted \\Flagged \\*)] ok")
                    send("* OK [UIDVALIDITY 1] ok")
                    send(f"{tag} OK [READ-WRITE] selected")
                    continue
                elif selected is None:
                    send(f"{tag} BAD select a folder first")
                    continue
                elif command == "IDLE":
                    send("+ idling")
                    await writer.drain()
                    self._idlers.add(writer)
                    done = await reader.readline()
                    self._idlers.discard(writer)
                    if done.strip().upper() != b"DONE":
                        send(f"{tag} BAD expected DONE")
                        continue
                elif command == "UID SEARCH":
                    send("* SEARCH " + " ".join(str(u) for u in self._search(selected, args)))
                elif command == "UID FETCH":
                    if len(args) != 2 or args[1].upper() != "(BODY.PEEK[])":
                        send(f"{tag} BAD only BODY.PEEK[] here")
                        continue
                    with self.lock:
                        for seq, m in enumerate(self._in(selected), 1):
                            if str(m.uid) == args[0]:
                                send(f"* {seq} FETCH (UID {m.uid} BODY[] {{{len(m.raw)}}}")
                                send(m.raw + b")\r\n")
                elif command == "UID STORE":
                    if len(args) != 3 or args[1].upper() != "+FLAGS":
                        send(f"{tag} BAD")
                        continue
                    with self.lock:
                        for seq, m in enumerate(self._in(selected), 1):
                            if str(m.uid) == args[0]:
                                m.flags |= set(args[2].strip("()").split())
                                send(f"* {seq} FETCH (UID {m.uid} FLAGS ({' '.join(m.flags)}))")
                elif command in ("UID MOVE", "UID COPY"):
                    if len(args) != 2 or args[1] not in self.folders:
                        send(f"{tag} NO [TRYCREATE] no such folder")
                        continue
                    with self.lock:
                        for seq, m in enumerate(self._in(selected), 1):
                            if str(m.uid) == args[0]:
                                if command == "UID MOVE":
                                    m.folder = args[1]
                                    send(f"* {seq} EXPUNGE")
                                else:
                                    self.messages.append(
                                        Stored(self.next_uid, m.raw, args[1], set(m.flags))
                                    )
                                    self.next_uid += 1
                elif command == "EXPUNGE":
                    with self.lock:
                        self.messages = [m for m in self.messages if "\\Deleted" not in m.flags]
                else:
                    send(f"{tag} BAD unknown command {command}")
                    continue
                send(f"{tag} OK {command} done")
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self._idlers.discard(writer)
            writer.close()

    def _search(self, folder: str, args: list[str]) -> list[int]:
        without = [args[i + 1] for i, a in enumerate(args[:-1]) if a.upper() == "UNKEYWORD"]
        with self.lock:
            return [m.uid for m in self._in(folder) if not (m.flags & set(without))]
