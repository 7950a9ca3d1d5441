"""What the named configuration resources share: a record found by id or by its unique name, and a
stored document (policy, profile) validated into its ca_core value whenever it is read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from acme_server.errors import NotFound

RecordT = TypeVar("RecordT")
RecordT_co = TypeVar("RecordT_co", covariant=True)


class NamedRepository(Protocol[RecordT_co]):
    async def get(self, record_id: str, /) -> RecordT_co | None: ...

    async def get_by_name(self, name: str, /) -> RecordT_co | None: ...


async def lookup(repository: NamedRepository[RecordT], ref: str) -> RecordT | None:
    """A record by id or, failing that, by name; None when neither names one."""
    return await repository.get(ref) or await repository.get_by_name(ref)


async def find(repository: NamedRepository[RecordT], kind: str, ref: str) -> RecordT:
    """A record by id or, failing that, by name; NotFound naming the kind and the reference."""
    record = await lookup(repository, ref)
    if record is None:
        raise NotFound(kind, ref)
    return record


class DocumentRecord(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def document(self) -> Mapping[str, Any]: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def updated_at(self) -> datetime: ...


class Named(Protocol):
    @property
    def name(self) -> str: ...


ValueT = TypeVar("ValueT", bound=Named)


@dataclass(frozen=True)
class DocumentInfo(Generic[ValueT]):
    """A stored document as its validated value, with the record's id and times."""

    id: str
    value: ValueT
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return self.value.name


InfoT = TypeVar("InfoT", bound=DocumentInfo[Any])


def document_info(
    cls: type[InfoT], record: DocumentRecord, parse: Callable[[str, Mapping[str, Any]], Any]
) -> InfoT:
    """`cls` (a DocumentInfo subclass) of the record, its document parsed by `parse(name, document)`."""
    return cls(record.id, parse(record.name, record.document), record.created_at, record.updated_at)
