"""The VA's DNS queries on the wire: one question per query to a recursive resolver, over a connected UDP
socket of its own (a fresh source port and a random id per query), over TCP when the answer is truncated.

Why not dnspython's resolver: a look-up through it cost 440-500 us of CPU here (its message objects,
rdata classes and resolution state), and an http-01 validation makes two to five (A, AAAA, and CAA up
the tree when CAA is checked); through this, about 100 us, most of it the socket and event-loop work.
dnspython still reads the system's resolver configuration (resolver.py).

Only what validation needs is decoded: A, AAAA, CNAME, TXT and CAA in the answer section. A response
that does not parse is malformed (WireError); one for another id or question is ignored, as a stub
resolver must (RFC 5452 §9.1)."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from acme_server.validation.blocklist import IPAddress


class RecordType(IntEnum):
    A = 1
    CNAME = 5
    TXT = 16
    AAAA = 28
    CAA = 257


class Rcode(IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3


class WireError(Exception):
    """A malformed query name or response."""


class Mismatch(Exception):
    """A datagram that answers another query (id or question differ): not ours, keep waiting."""


@dataclass(frozen=True, slots=True)
class CAAData:
    flags: int
    tag: str
    value: str


Value = IPAddress | tuple[bytes, ...] | CAAData | bytes  # bytes: a CNAME target (lower case)


@dataclass(frozen=True, slots=True)
class Response:
    rcode: int
    truncated: bool
    answers: tuple[tuple[bytes, int, Value], ...]  # (owner in lower case, type, value)

    def resolve(self, name: bytes, rtype: int) -> list[Value]:
        """The values of `rtype` at `name`, following CNAMEs within the answer (as a recursive
        resolver returns them); empty when there are none."""
        current = name
        for _ in range(_MAX_CHAIN):
            found = [value for owner, kind, value in self.answers if owner == current and kind == rtype]
            if found:
                return found
            target = next(
                (
                    v
                    for o, k, v in self.answers
                    if o == current and k == RecordType.CNAME and isinstance(v, bytes)
                ),
                None,
            )
            if target is None:
                return []
            current = target
        raise WireError("CNAME chain too long")


_HEADER: Final = struct.Struct("!6H")
_RR: Final = struct.Struct("!HHIH")
_QUESTION: Final = struct.Struct("!HH")
_CLASS_IN: Final = 1
_RECURSION_DESIRED: Final = 0x0100
_MAX_CHAIN: Final = 16  # CNAMEs followed within one answer (dnspython's limit too)
_UDP_SIZE: Final = 65535


def wire_name(name: str) -> bytes:
    """The lower-case dotted form used to compare owners, checked as a DNS name (RFC 1035 §2.3.4)."""
    text = name.rstrip(".")
    try:
        encoded = text.encode("ascii").lower()
    except UnicodeEncodeError:
        raise WireError(f"{name!r} is not an ASCII (A-label) name") from None
    labels = encoded.split(b".")
    if not text or any(not 0 < len(label) <= 63 for label in labels) or len(encoded) > 253:
        raise WireError(f"{name!r} is not a DNS name")
    return encoded


def encode_query(query_id: int, name: bytes, rtype: int) -> bytes:
    question = b"".join(bytes((len(label),)) + label for label in name.split(b".")) + b"\x00"
    return (
        _HEADER.pack(query_id, _RECURSION_DESIRED, 1, 0, 0, 0) + question + _QUESTION.pack(rtype, _CLASS_IN)
    )


def _pointer(data: bytes, offset: int) -> int:
    if offset + 1 >= len(data):
        raise WireError("a truncated compression pointer")
    target = ((data[offset] & 0x3F) << 8) | data[offset + 1]
    if target >= offset:
        raise WireError("a compression pointer that does not point backwards")
    return target


def _read_name(data: bytes, offset: int) -> tuple[bytes, int]:
    """(the name in lower case, the offset after it), following compression pointers backwards only
    (so no loop), at most 255 octets of name."""
    labels: list[bytes] = []
    after: int | None = None
    size = 0
    while offset < len(data):
        length = data[offset]
        if length & 0xC0 == 0xC0:
            after = offset + 2 if after is None else after
            offset = _pointer(data, offset)
            continue
        if length & 0xC0:
            raise WireError("an unknown label type")
        if length == 0:
            return b".".join(labels), offset + 1 if after is None else after
        label = data[offset + 1 : offset + 1 + length]
        size += length + 1
        if len(label) != length or size > 255:
            raise WireError("a label runs past the end of the message, or a name over 255 octets")
        labels.append(label.lower())
        offset += 1 + length
    raise WireError("a name runs past the end of the message")


def _txt(rdata: bytes) -> tuple[bytes, ...]:
    strings = []
    index = 0
    while index < len(rdata):
        length = rdata[index]
        chunk = rdata[index + 1 : index + 1 + length]
        if len(chunk) != length:
            raise WireError("a TXT character-string runs past its record")
        strings.append(chunk)
        index += 1 + length
    return tuple(strings)


def _caa(rdata: bytes) -> CAAData:
    if len(rdata) < 2:
        raise WireError("a CAA record shorter than its header")
    tag = rdata[2 : 2 + rdata[1]]
    if len(tag) != rdata[1] or not tag or not tag.isalnum():
        raise WireError("a CAA record whose tag is not alphanumeric")
    return CAAData(rdata[0], tag.decode("ascii"), rdata[2 + rdata[1] :].decode("utf-8", "replace"))


def _value(data: bytes, rtype: int, start: int, rdata: bytes) -> Value | None:
    if rtype == RecordType.A:
        if len(rdata) != 4:
            raise WireError("an A record that is not 4 octets")
        return ipaddress.IPv4Address(rdata)
    if rtype == RecordType.AAAA:
        if len(rdata) != 16:
            raise WireError("an AAAA record that is not 16 octets")
        return ipaddress.IPv6Address(rdata)
    if rtype == RecordType.CNAME:
        target, end = _read_name(data, start)
        if end != start + len(rdata):
            raise WireError("a CNAME record with data after its name")
        return target
    if rtype == RecordType.TXT:
        return _txt(rdata)
    if rtype == RecordType.CAA:
        return _caa(rdata)
    return None  # a type validation does not read (DNAME, RRSIG, ...)


def _question(data: bytes, query_id: int, name: bytes, rtype: int) -> tuple[int, int, int]:
    """(flags, answer count, offset of the answer section) of a response to exactly our question."""
    if len(data) < _HEADER.size:
        raise WireError("a message shorter than its header")
    answer_id, flags, questions, answers, _, _ = _HEADER.unpack_from(data)
    if answer_id != query_id or not flags & 0x8000 or questions != 1:
        raise Mismatch()
    if (flags >> 11) & 0xF:
        raise WireError("a response with an unexpected opcode")
    asked, offset = _read_name(data, _HEADER.size)
    if offset + _QUESTION.size > len(data):
        raise WireError("a truncated question")
    if asked != name or _QUESTION.unpack_from(data, offset) != (rtype, _CLASS_IN):
        raise Mismatch()
    return flags, answers, offset + _QUESTION.size


def _records(data: bytes, offset: int, count: int) -> tuple[tuple[bytes, int, Value], ...]:
    records: list[tuple[bytes, int, Value]] = []
    for _ in range(count):
        owner, offset = _read_name(data, offset)
        if offset + _RR.size > len(data):
            raise WireError("a truncated resource record")
        kind, record_class, _, length = _RR.unpack_from(data, offset)
        offset += _RR.size
        rdata = data[offset : offset + length]
        if len(rdata) != length:
            raise WireError("record data runs past the end of the message")
        value = _value(data, kind, offset, rdata) if record_class == _CLASS_IN else None
        if value is not None:
            records.append((owner, kind, value))
        offset += length
    return tuple(records)


def parse_response(data: bytes, query_id: int, name: bytes, rtype: int) -> Response:
    """The answer to query `query_id` for (`name`, `rtype`); Mismatch for another query's datagram. A
    truncated answer's records are not read: the TCP retry reads them whole."""
    flags, answers, offset = _question(data, query_id, name, rtype)
    truncated = bool(flags & 0x0200)
    return Response(flags & 0xF, truncated, () if truncated else _records(data, offset, answers))


async def _udp(address: tuple[str, int], query: bytes, query_id: int, name: bytes, rtype: int) -> Response:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(address)  # the kernel drops datagrams from any other address
        await loop.sock_sendall(sock, query)
        while True:
            datagram = await loop.sock_recv(sock, _UDP_SIZE)
            try:
                return parse_response(datagram, query_id, name, rtype)
            except Mismatch:
                continue


async def _tcp(address: tuple[str, int], query: bytes, query_id: int, name: bytes, rtype: int) -> Response:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        length = struct.unpack("!H", await reader.readexactly(2))[0]
        return parse_response(await reader.readexactly(length), query_id, name, rtype)
    except (asyncio.IncompleteReadError, Mismatch):
        raise WireError("the TCP answer was cut short or answers another query") from None
    finally:
        writer.close()


async def exchange(address: tuple[str, int], name: bytes, rtype: int) -> Response:
    """One query to one server: UDP, then TCP when the UDP answer is truncated. No timeout here: the
    caller bounds the whole look-up."""
    query_id = secrets.randbelow(0x10000)
    query = encode_query(query_id, name, rtype)
    response = await _udp(address, query, query_id, name, rtype)
    if response.truncated:
        response = await _tcp(address, query, query_id, name, rtype)
    return response


def nameserver_addresses(configured: Sequence[object]) -> list[tuple[str, int]]:
    """(host, port) of each nameserver dnspython read from the system (Do53 ones only)."""
    addresses = []
    for nameserver in configured:
        address, port = getattr(nameserver, "address", nameserver), getattr(nameserver, "port", 53)
        if isinstance(address, str) and isinstance(port, int):
            addresses.append((address, port))
    return addresses
