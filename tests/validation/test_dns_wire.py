"""The VA's DNS wire format (acme_server/validation/dns_wire.py) against hostile and unusual answers:
what a response must be to count as ours, what is malformed, and the TCP retry of a truncated answer."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from ipaddress import ip_address

import dns.flags
import dns.message
import dns.rrset
import pytest

from acme_server.validation import dns_wire
from acme_server.validation.dns_wire import Mismatch, RecordType, WireError, encode_query, parse_response

NAME = b"www.example.test"


def _response(query_id: int = 7, name: str = "www.example.test", rdtype: str = "A") -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    query.id = query_id
    return dns.message.make_response(query)


def _wire(message: dns.message.Message) -> bytes:
    return message.to_wire()


def test_a_query_is_one_recursive_question() -> None:
    parsed = dns.message.from_wire(encode_query(4242, NAME, RecordType.CAA))
    assert parsed.id == 4242
    assert parsed.flags & dns.flags.RD
    assert [(q.name.to_text(), q.rdtype) for q in parsed.question] == [("www.example.test.", 257)]


def test_an_answer_follows_cnames_within_it() -> None:
    response = _response()
    response.answer.append(dns.rrset.from_text("www.example.test.", 60, "IN", "CNAME", "edge.Example.test."))
    response.answer.append(dns.rrset.from_text("edge.example.test.", 60, "IN", "A", "192.0.2.7"))
    parsed = parse_response(_wire(response), 7, NAME, RecordType.A)
    assert parsed.resolve(NAME, RecordType.A) == [ip_address("192.0.2.7")]


def test_another_querys_datagram_is_not_ours() -> None:
    with pytest.raises(Mismatch):
        parse_response(_wire(_response(query_id=8)), 7, NAME, RecordType.A)
    with pytest.raises(Mismatch):  # the same id for another name: a spoofing attempt or a stale answer
        parse_response(_wire(_response(name="evil.example.test")), 7, NAME, RecordType.A)
    with pytest.raises(Mismatch):  # a query, not a response
        parse_response(encode_query(7, NAME, RecordType.A), 7, NAME, RecordType.A)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda data: data[:5],  # shorter than a header
        lambda data: data[:-3],  # the last record cut short
        lambda data: data + b"\xc0",  # a trailing half pointer counted as an extra answer
    ],
    ids=["header", "record", "pointer"],
)
def test_a_cut_message_is_malformed(mangle: Callable[[bytes], bytes]) -> None:
    response = _response()
    response.answer.append(dns.rrset.from_text("www.example.test.", 60, "IN", "A", "192.0.2.7"))
    data = bytearray(mangle(_wire(response)))
    if len(data) > 12 and data.endswith(b"\xc0"):
        data[7] += 1  # ANCOUNT: one more record, which is the half pointer
    with pytest.raises(WireError):
        parse_response(bytes(data), 7, NAME, RecordType.A)


def test_a_compression_loop_is_refused() -> None:
    header = struct.pack("!6H", 7, 0x8180, 1, 1, 0, 0)
    question = encode_query(7, NAME, RecordType.A)[12:]
    offset = 12 + len(question)
    looping_owner = struct.pack("!H", 0xC000 | offset)  # a pointer to itself
    record = looping_owner + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)
    with pytest.raises(WireError):
        parse_response(header + question + record, 7, NAME, RecordType.A)


def test_a_caa_tag_that_is_not_alphanumeric_is_malformed() -> None:
    response = _response(rdtype="CAA")
    data = bytearray(_wire(response))
    data[7] = 1  # one answer, written by hand
    rdata = b"\x00\x05iss-e" + b"ca.example"
    data += b"\xc0\x0c" + struct.pack("!HHIH", 257, 1, 60, len(rdata)) + rdata
    with pytest.raises(WireError):
        parse_response(bytes(data), 7, NAME, RecordType.CAA)


def test_a_cname_loop_ends() -> None:
    response = _response()
    response.answer.append(dns.rrset.from_text("www.example.test.", 60, "IN", "CNAME", "b.example.test."))
    response.answer.append(dns.rrset.from_text("b.example.test.", 60, "IN", "CNAME", "www.example.test."))
    parsed = parse_response(_wire(response), 7, NAME, RecordType.A)
    with pytest.raises(WireError):
        parsed.resolve(NAME, RecordType.A)


@pytest.mark.parametrize("name", ["", "a..b", "x" * 64 + ".test", "bücher.test", ("a" * 60 + ".") * 5])
def test_names_that_are_not_dns_names_are_refused(name: str) -> None:
    with pytest.raises(WireError):
        dns_wire.wire_name(name)


class _TruncatingServer(asyncio.DatagramProtocol):
    """UDP: a truncated empty answer; TCP (same port): the whole answer, 40 TXT strings."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        response = dns.message.make_response(dns.message.from_wire(data))
        response.flags |= dns.flags.TC
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


def _whole(query: dns.message.Message) -> bytes:
    response = dns.message.make_response(query)
    strings = " ".join(f'"{"v" * 200}{index}"' for index in range(40))
    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "TXT", strings))
    return response.to_wire()


@pytest.fixture
async def truncating() -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()

    async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
        answer = _whole(dns.message.from_wire(await reader.readexactly(length)))
        writer.write(struct.pack("!H", len(answer)) + answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(tcp, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_datagram_endpoint(_TruncatingServer, local_addr=("127.0.0.1", port))
    try:
        yield port
    finally:
        transport.close()
        server.close()
        await server.wait_closed()


async def test_a_truncated_answer_is_asked_again_over_tcp(truncating: int) -> None:
    response = await dns_wire.exchange(("127.0.0.1", truncating), NAME, RecordType.TXT)
    (strings,) = response.resolve(NAME, RecordType.TXT)
    assert isinstance(strings, tuple) and len(strings) == 40
    assert strings[39] == b"v" * 200 + b"39"
