"""RFC 6455 WebSocket framing on a plain socket: the server's side of the opening handshake,
reading (unmasking, reassembling fragments, answering pings) and writing frames, plus a small
blocking client used by the tests and for poking at the stand-in by hand.

Only what the Firebase SDK needs: text and binary messages, no extensions (a
``permessage-deflate`` offer is ignored, which RFC 6455 allows), no subprotocols.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import struct
import threading
from dataclasses import dataclass
from typing import BinaryIO

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL_OPCODES = (CLOSE, PING, PONG)
DATA_OPCODES = (TEXT, BINARY)

NORMAL_CLOSURE = 1000
PROTOCOL_ERROR = 1002
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009

# Firebase splits its own messages at 16 KB; anything near this is a client gone wrong.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class ProtocolError(Exception):
    """The peer broke RFC 6455; ``code`` is the close status to answer with."""

    def __init__(self, message: str, code: int = PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


class ConnectionClosed(Exception):
    """The peer sent a close frame (``code`` may be None) or the stream ended."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"closed ({code}) {reason}".strip())
        self.code = code
        self.reason = reason


def accept_key(client_key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    digest = hashlib.sha1((client_key + GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def valid_client_key(client_key: str | None) -> bool:
    if not client_key:
        return False
    try:
        return len(base64.b64decode(client_key, validate=True)) == 16
    except ValueError:
        return False


def apply_mask(mask: bytes, payload: bytes) -> bytes:
    if not payload:
        return payload
    # XOR as one big integer: far faster in Python than a byte loop for 16 KB frames.
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One frame. Servers send unmasked frames; clients must pass a 4-byte ``mask``."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask is None:
        return header + payload
    if len(mask) != 4:
        raise ValueError("a mask is 4 bytes")
    return header + mask + apply_mask(mask, payload)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()[:120]


@dataclass
class Frame:
    fin: bool
    opcode: int
    payload: bytes
    masked: bool


def read_exactly(stream: BinaryIO, count: int) -> bytes:
    data = stream.read(count)
    if data is None or len(data) < count:
        raise ConnectionClosed(None, "stream ended")
    return data


def read_frame(stream: BinaryIO, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Frame:
    first, second = read_exactly(stream, 2)
    if first & 0x70:
        raise ProtocolError("reserved bits set without a negotiated extension")
    fin, opcode = bool(first & 0x80), first & 0x0F
    masked, length = bool(second & 0x80), second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", read_exactly(stream, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", read_exactly(stream, 8))
        if length >> 63:
            raise ProtocolError("64-bit length with the high bit set")
    if opcode in CONTROL_OPCODES and (length > 125 or not fin):
        raise ProtocolError("control frames are at most 125 bytes and never fragmented")
    if opcode not in CONTROL_OPCODES and opcode not in DATA_OPCODES and opcode != CONTINUATION:
        raise ProtocolError(f"unknown opcode {opcode:#x}")
    if length > max_bytes:
        raise ProtocolError(f"frame of {length} bytes is too big", MESSAGE_TOO_BIG)
    mask = read_exactly(stream, 4) if masked else None
    payload = read_exactly(stream, length) if length else b""
    if mask is not None:
        payload = apply_mask(mask, payload)
    return Frame(fin, opcode, payload, masked)


class Endpoint:
    """One side of an open WebSocket: ``receive()`` returns whole messages (str for text,
    bytes for binary), answering pings on the way; ``send_text``/``close`` are thread-safe.

    ``client=True`` masks what it sends and accepts unmasked frames; a server requires masked
    frames from its client (RFC 6455 5.1).
    """

    def __init__(self, sock: socket.socket, reader: BinaryIO, *, client: bool = False) -> None:
        self.sock = sock
        self.reader = reader
        self.client = client
        self._send_lock = threading.Lock()
        self.close_sent = False
        self.close_code: int | None = None

    def _write(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        mask = os.urandom(4) if self.client else None
        frame = encode_frame(opcode, payload, fin=fin, mask=mask)
        with self._send_lock:
            self.sock.sendall(frame)

    def send_text(self, text: str) -> None:
        self._write(TEXT, text.encode())

    def send_fragments(self, opcode: int, parts: list[bytes]) -> None:
        """One message as several frames (tests use it to exercise reassembly)."""
        mask_frames = []
        for index, part in enumerate(parts):
            frame_opcode = opcode if index == 0 else CONTINUATION
            mask = os.urandom(4) if self.client else None
            mask_frames.append(encode_frame(frame_opcode, part, fin=index == len(parts) - 1, mask=mask))
        with self._send_lock:
            self.sock.sendall(b"".join(mask_frames))

    def ping(self, payload: bytes = b"") -> None:
        self._write(PING, payload)

    def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        if self.close_sent:
            return
        self.close_sent = True
        with contextlib.suppress(OSError):
            self._write(CLOSE, close_payload(code, reason))

    def receive(self) -> str | bytes:
        """The next data message. Raises ConnectionClosed when the peer closes (after answering
        its close frame) and ProtocolError (after sending a close frame) when it misbehaves."""
        try:
            return self._receive()
        except ProtocolError as error:
            self.close(error.code, str(error))
            raise

    def _receive(self) -> str | bytes:
        message_opcode: int | None = None
        parts: list[bytes] = []
        size = 0
        while True:
            frame = read_frame(self.reader)
            if not self.client and not frame.masked:
                raise ProtocolError("client frames must be masked")
            if frame.opcode == PING:
                self._write(PONG, frame.payload)
                continue
            if frame.opcode == PONG:
                continue
            if frame.opcode == CLOSE:
                code = struct.unpack("!H", frame.payload[:2])[0] if len(frame.payload) >= 2 else None
                self.close_code = code
                self.close(code if code is not None else NORMAL_CLOSURE)
                raise ConnectionClosed(code, frame.payload[2:].decode(errors="replace"))
            if frame.opcode == CONTINUATION:
                if message_opcode is None:
                    raise ProtocolError("continuation frame without a message to continue")
            elif message_opcode is not None:
                raise ProtocolError("new data frame in the middle of a fragmented message")
            else:
                message_opcode = frame.opcode
            parts.append(frame.payload)
            size += len(frame.payload)
            if size > MAX_MESSAGE_BYTES:
                raise ProtocolError("message too big", MESSAGE_TOO_BIG)
            if frame.fin:
                break
        payload = b"".join(parts)
        if message_opcode == BINARY:
            return payload
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("text message is not UTF-8", INVALID_PAYLOAD) from None


def connect(host: str, port: int, resource: str, *, timeout: float = 5.0) -> Endpoint:
    """A blocking client connection (for tests and by hand), e.g.
    ``connect("127.0.0.1", 9000, "/.ws?ns=peardeck-test&v=5")``."""
    sock = socket.create_connection((host, port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {resource} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    reader = sock.makefile("rb")
    status = reader.readline().decode()
    headers: dict[str, str] = {}
    while True:
        line = reader.readline().decode()
        if line in ("\r\n", "\n", ""):
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if " 101 " not in status or headers.get("sec-websocket-accept") != accept_key(key):
        sock.close()
        raise ConnectionError(f"WebSocket upgrade refused: {status.strip()} {headers}")
    return Endpoint(sock, reader, client=True)
