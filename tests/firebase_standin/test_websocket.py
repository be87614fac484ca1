"""RFC 6455 framing of the stand-in's WebSocket, without a browser."""

from __future__ import annotations

import io
import socket
import struct

import pytest

from tests.firebase_standin import websocket
from tests.firebase_standin.websocket import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    ConnectionClosed,
    Endpoint,
    ProtocolError,
    encode_frame,
    read_frame,
)

MASK = b"\x37\xfa\x21\x3d"


def test_the_accept_key_is_the_one_in_the_rfc():
    assert websocket.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_masked_hello_is_the_rfc_example_byte_for_byte():
    frame = encode_frame(TEXT, b"Hello", mask=MASK)

    assert frame == bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    decoded = read_frame(io.BytesIO(frame))
    assert (decoded.fin, decoded.opcode, decoded.payload, decoded.masked) == (True, TEXT, b"Hello", True)


@pytest.mark.parametrize(
    ("length", "header_length", "length_marker"),
    [(0, 2, 0), (125, 2, 125), (126, 4, 126), (65535, 4, 126), (65536, 10, 127), (200_000, 10, 127)],
)
def test_payload_lengths_use_the_short_16_bit_and_64_bit_forms(length, header_length, length_marker):
    payload = bytes(range(256)) * (length // 256) + bytes(length % 256)

    unmasked = encode_frame(BINARY, payload)
    masked = encode_frame(BINARY, payload, mask=MASK)

    assert len(unmasked) == header_length + length
    assert unmasked[1] == length_marker
    assert masked[1] == 0x80 | length_marker
    assert len(masked) == header_length + 4 + length
    if length:
        assert masked[header_length + 4 :] != payload
    assert read_frame(io.BytesIO(unmasked)).payload == payload
    assert read_frame(io.BytesIO(masked)).payload == payload


def test_a_64_bit_length_with_the_high_bit_set_is_a_protocol_error():
    frame = struct.pack("!BBQ", 0x82, 127, 1 << 63)

    with pytest.raises(ProtocolError):
        read_frame(io.BytesIO(frame))


@pytest.fixture
def pair():
    """A server Endpoint and the raw client socket talking to it."""
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(5)
    client_sock.settimeout(5)
    server = Endpoint(server_sock, server_sock.makefile("rb"))
    yield server, client_sock
    server_sock.close()
    client_sock.close()


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    return encode_frame(opcode, payload, fin=fin, mask=MASK)


def test_a_fragmented_message_is_reassembled_and_a_ping_between_fragments_gets_its_pong(pair):
    server, client = pair
    client.sendall(
        masked(TEXT, "héllo, ".encode()[:3], fin=False)
        + masked(PING, b"are you there")
        + masked(CONTINUATION, "héllo, ".encode()[3:], fin=False)
        + masked(CONTINUATION, b"world")
    )

    assert server.receive() == "héllo, world"
    pong = read_frame(client.makefile("rb"))
    assert (pong.opcode, pong.payload, pong.masked) == (PONG, b"are you there", False)


def test_an_unmasked_client_frame_is_refused_with_close_1002(pair):
    server, client = pair
    client.sendall(encode_frame(TEXT, b"naked"))

    with pytest.raises(ProtocolError):
        server.receive()
    close = read_frame(client.makefile("rb"))
    assert close.opcode == CLOSE
    assert struct.unpack("!H", close.payload[:2])[0] == websocket.PROTOCOL_ERROR


def test_a_continuation_without_a_first_fragment_is_a_protocol_error(pair):
    server, client = pair
    client.sendall(masked(CONTINUATION, b"orphan"))

    with pytest.raises(ProtocolError):
        server.receive()


def test_a_control_frame_over_125_bytes_is_a_protocol_error(pair):
    server, client = pair
    client.sendall(masked(PING, b"x" * 126))

    with pytest.raises(ProtocolError):
        server.receive()


def test_text_that_is_not_utf8_is_refused_with_close_1007(pair):
    server, client = pair
    client.sendall(masked(TEXT, b"\xff\xfe"))

    with pytest.raises(ProtocolError) as caught:
        server.receive()
    assert caught.value.code == websocket.INVALID_PAYLOAD


def test_a_close_frame_is_answered_and_ends_the_conversation(pair):
    server, client = pair
    client.sendall(masked(CLOSE, websocket.close_payload(1001, "going away")))

    with pytest.raises(ConnectionClosed) as caught:
        server.receive()
    assert caught.value.code == 1001
    echo = read_frame(client.makefile("rb"))
    assert echo.opcode == CLOSE and struct.unpack("!H", echo.payload[:2])[0] == 1001


def test_server_frames_are_unmasked_and_client_frames_masked(pair):
    server, client = pair
    server.send_text("from the server")
    frame = read_frame(client.makefile("rb"))
    assert (frame.masked, frame.payload) == (False, b"from the server")

    endpoint = Endpoint(client, client.makefile("rb"), client=True)
    endpoint.send_text("from the client")
    assert server.receive() == "from the client"
