"""ACME finalize (RFC 8555 §7.4): a ready order becomes a certificate exactly once — the issuance
pipeline's stages with the order's claim between check and sign — and an order whose issuance failed
or was cut short by a crash becomes invalid with its problem (Boulder failOrder), never stuck."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from acme_server.errors import (
    OrderNotReady,
)
from acme_server.observability import metrics
from acme_server.problems import ACME_ERROR, problem_document
from acme_server.services import issuance
from acme_server.services.acme import orders
from acme_server.services.acme.accounts import Account, owned
from acme_server.services.config import catalog
from acme_server.services.delivery.pushes import PendingPushes
from acme_server.services.inventory import certificates
from acme_server.services.issuance import Issuer
from acme_server.services.renewal import ari
from acme_server.services.runtime import Runtime
from acme_server.storage import OrderRecord
from ca_core.csr import parse_csr
from ca_core.errors import BadCSR, BadPublicKey, CAError, KeyNotAllowed
from ca_core.issuance import CheckedRequest, IssuedCertificate
from ca_core.request import CertificateRequest

log = logging.getLogger("acme_server.orders")


def _parse_csr(csr_der: bytes) -> CertificateRequest:
    """§7.4: every CSR problem is badCSR, with the precise reason (a weak key included). The csr is
    DER: a PEM one (base64url of its text) is refused too."""
    try:
        return parse_csr(csr_der, der_only=True)
    except BadPublicKey as exc:
        raise BadCSR(f"the CSR key is not acceptable: {exc.detail}") from None


def _check_csr(request: CertificateRequest, order: OrderRecord, account: Account) -> None:
    """§7.4: the CSR names exactly the order's identifiers; §11.1: not the account key."""
    wanted = {(i["type"], i["value"]) for i in order.identifiers}
    have = {("dns", n) for n in request.sans.dns} | {("ip", str(a)) for a in request.sans.ip}
    if request.sans.email or request.sans.uri:
        raise BadCSR("the CSR asks for e-mail or URI names, which ACME orders cannot carry")
    cn = request.subject.common_name
    if cn is not None and ("dns", cn.lower()) not in wanted and ("ip", cn) not in wanted:
        raise BadCSR(f"the CSR common name {cn!r} is not one of the order's identifiers")
    if have != wanted:
        missing = sorted(v for _, v in wanted - have)
        extra = sorted(v for _, v in have - wanted)
        raise BadCSR(
            "the CSR names must equal the order's identifiers"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; not in the order {', '.join(extra)}" if extra else "")
        )
    if request.public_key == account.jwk.key:  # public keys compare by value
        raise BadCSR("the CSR must not use the account key")


def _check(issuer: Issuer, request: CertificateRequest, ttl: timedelta | None) -> CheckedRequest:
    """The pipeline's one check (key algorithm, names, policy); a key the profile does not allow is
    a badCSR naming what it allows (§7.4), and the order stays ready."""
    try:
        return issuance.check(issuer, request, ttl)
    except KeyNotAllowed as exc:
        allowed = ", ".join(exc.allowed)
        raise BadCSR(f"the CSR key is {exc.algorithm}; profile {exc.profile!r} allows {allowed}") from None


def _lifetime(order: OrderRecord, now: datetime) -> tuple[datetime, timedelta | None]:
    start = order.not_before or now
    return start, (order.not_after - start) if order.not_after else None


async def finalize(rt: Runtime, account: Account, order_id: str, csr_der: bytes) -> orders.OrderView:
    """Check the CSR (a bad one leaves the order ready, as Boulder does), then ready -> processing
    (one winner across replicas) -> valid with a certificate, or invalid with the problem stored on
    the order when anything fails (never stuck in processing; a crash is left to the lease). The
    issuance pipeline's stages (services/issuance.py), with the order's claim between check and sign."""
    async with rt.storage.read() as tx:
        order = owned(await tx.orders.get(order_id), account, "order", order_id)
        configuration = await catalog.catalog_in(rt, tx)
    # RFC 8555 §7.4: finalize of an order that is not ready (processing or valid included) is
    # orderNotReady; the client polls the order instead (Boulder answers the same).
    _check_ready(orders.effective_status(order, rt.clock.now()))
    issuer = orders.acme_profile(configuration, order.profile_id or orders.DEFAULT_PROFILE)
    request = _parse_csr(csr_der)
    _check_csr(request, order, account)
    start, ttl = _lifetime(order, rt.clock.now())
    checked = _check(issuer, request, ttl)
    async with rt.storage.transaction() as tx:
        if not await tx.orders.begin_processing(order_id, account.id, now=rt.clock.now()):
            current = await tx.orders.get(order_id)
            assert current is not None
            _check_ready(current.status)  # the loser of a race sees the winner's state
    started = time.perf_counter()
    try:
        issued = await issuance.sign(
            rt, issuer, checked, ttl=ttl, not_before=start if order.not_before else None
        )
        record, pushes = await _store(rt, order, issuer, issued)
    except Exception as exc:  # Boulder failOrder: whatever went wrong lands on the order (rule 6)
        await _fail(rt, order_id, exc)
        metrics.ORDERS.labels("invalid").inc()
        raise
    metrics.ISSUANCE_SECONDS.observe(time.perf_counter() - started)
    metrics.ORDERS.labels("valid").inc()
    await issuance.publish(rt, pushes)
    return orders.order_view(record, rt.clock.now(), issuer.profile.name)


def _check_ready(status: str) -> None:
    if status != "ready":
        raise OrderNotReady(f"the order is {status}, not ready")


async def _store(
    rt: Runtime, order: OrderRecord, issuer: Issuer, issued: IssuedCertificate
) -> tuple[OrderRecord, PendingPushes]:
    """Rule 4d: the certificate is stored (its syncs queued) and the order becomes valid in one
    transaction."""
    async with rt.storage.transaction() as tx:
        stored, pushes = await certificates.record_issued(
            rt,
            tx,
            issued,
            profile_id=issuer.id,
            profile=issuer.profile,
            enrollment="acme",
            account_id=order.account_id,
            order_id=order.id,
        )
        if order.replaces:  # RFC 9773 §5: the renewal chain
            await ari.record_replacement(tx, order.replaces, stored.id)
        if not await tx.orders.finish(order.id, certificate_id=stored.id):
            # Recovery failed the order meanwhile (its lease ran out): roll the certificate back.
            raise OrderNotReady(f"order {order.id!r} was failed while its certificate was issued")
        record = await tx.orders.get(order.id)
    assert record is not None
    return record, pushes


def _internal_problem(detail: str) -> dict[str, Any]:
    """A serverInternal problem stored on an order whose issuance failed on our side."""
    return {"type": ACME_ERROR + "serverInternal", "detail": detail, "status": 500}


ABANDONED_PROBLEM = _internal_problem(
    "the server stopped while issuing the certificate; finalize a new order"
)


async def _fail(rt: Runtime, order_id: str, exc: Exception) -> None:
    """The order becomes invalid with the error's problem; an unexpected one stores a generic
    serverInternal problem (its details stay in the log)."""
    if isinstance(exc, CAError):
        document = problem_document(exc)
    else:
        log.error("finalize of order %s failed", order_id, exc_info=exc)
        document = _internal_problem("the server could not issue the certificate")
    async with rt.storage.transaction() as tx:
        await tx.orders.fail(order_id, document)


async def recover_abandoned(rt: Runtime) -> int:
    """Fail every order processing for longer than the lease (a finalize cut short by a crash or a
    kill: no process will finish it); the number failed. Safe in every worker and replica at once."""
    cutoff = rt.clock.now() - timedelta(seconds=rt.processing_lease)
    async with rt.storage.transaction() as tx:
        failed = await tx.orders.fail_abandoned(cutoff, ABANDONED_PROBLEM)
    if failed:
        metrics.ORDERS.labels("abandoned").inc(failed)
        log.warning("failed %d order(s) left processing for over %g s", failed, rt.processing_lease)
    return failed


async def run_recovery(rt: Runtime, stop: asyncio.Event) -> None:
    """recover_abandoned at start-up and then every half lease (at most 30 s) until `stop` is set."""
    interval = min(rt.processing_lease / 2, 30.0)
    while not stop.is_set():
        try:
            await recover_abandoned(rt)
        except (OSError, CAError) as exc:  # the database away or busy for a moment; try next time
            log.warning("order recovery: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
