"""What `acme-server policy ...` and `acme-server profile ...` share: the five commands over a named
configuration document (create, update, list, show, delete); each resource gives its service calls,
how its flags become a document, its flags and its columns."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acme_server.cli.common import emit, emit_table, leaf
from acme_server.services.config.named import DocumentInfo
from acme_server.services.runtime import Runtime

Document = dict[str, Any]


@dataclass(frozen=True)
class DocumentCommands:
    kind: str  # the command group and the positional argument: "policy", "profile"
    plural: str
    help: str
    create: Callable[[Runtime, str, Mapping[str, Any]], Awaitable[DocumentInfo[Any]]]
    update: Callable[[Runtime, str, Mapping[str, Any]], Awaitable[DocumentInfo[Any]]]
    get: Callable[[Runtime, str], Awaitable[DocumentInfo[Any]]]
    list_all: Callable[[Runtime], Awaitable[Sequence[DocumentInfo[Any]]]]
    delete: Callable[[Runtime, str], Awaitable[None]]
    # The document from the flags; for an update, `base` is the stored document when the flags given
    # change only their settings (else None: the flags replace the whole document).
    document: Callable[[argparse.Namespace, Document | None], Document]
    options: Callable[[argparse.ArgumentParser], None]
    columns: tuple[str, ...]
    update_help: str
    delete_help: str
    update_merges: bool = False

    def register(self, commands: Any) -> None:
        group = commands.add_parser(self.kind, help=self.help).add_subparsers(
            dest=f"{self.kind}_command", required=True, metavar="ACTION"
        )
        p = leaf(group, "create", self._create, f"create a {self.kind}")
        p.add_argument("name")
        self.options(p)
        p = leaf(group, "update", self._update, self.update_help)
        p.add_argument(self.kind, help="id or name")
        self.options(p)
        leaf(group, "list", self._list, f"list {self.plural}")
        leaf(group, "show", self._show, f"show a {self.kind}").add_argument(self.kind, help="id or name")
        leaf(group, "delete", self._delete, self.delete_help, json_output=False).add_argument(
            self.kind, help="id or name"
        )

    async def _create(self, rt: Runtime, args: argparse.Namespace) -> int:
        emit(args, view(await self.create(rt, args.name, self.document(args, None))))
        return 0

    async def _update(self, rt: Runtime, args: argparse.Namespace) -> int:
        ref = getattr(args, self.kind)
        base = (await self.get(rt, ref)).value.to_document() if self.update_merges else None
        emit(args, view(await self.update(rt, ref, self.document(args, base))))
        return 0

    async def _list(self, rt: Runtime, args: argparse.Namespace) -> int:
        emit_table(args, [view(info) for info in await self.list_all(rt)], list(self.columns))
        return 0

    async def _show(self, rt: Runtime, args: argparse.Namespace) -> int:
        emit(args, view(await self.get(rt, getattr(args, self.kind))))
        return 0

    async def _delete(self, rt: Runtime, args: argparse.Namespace) -> int:
        ref = getattr(args, self.kind)
        await self.delete(rt, ref)
        print(f"deleted {self.kind} {ref}")
        return 0


def view(info: DocumentInfo[Any]) -> Document:
    return {"id": info.id, "name": info.name, **info.value.to_document(), "updatedAt": info.updated_at}
