"""The status routes both apps serve: CRLs (RFC 5280 distribution points, one per partition) and OCSP
(RFC 6960 Appendix A: POST, and GET with the base64 request in the path)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from acme_server.status.crls import get_crl
from acme_server.status.ocsp import get_ocsp, post_ocsp

ROUTES: list[BaseRoute] = [
    Route("/crl/{ca_id}.{format:str}", get_crl, name="crl", methods=["GET"]),
    # Partition k > 0 of a partitioned CA (RFC 5280 §5.2.5); partition 0 is the CA's CRL above.
    Route("/crl/{ca_id}/{partition:int}.{format:str}", get_crl, name="crl_partition", methods=["GET"]),
    Route("/ocsp", post_ocsp, name="ocsp", methods=["POST"]),
    Route("/ocsp/{encoded:path}", get_ocsp, name="ocsp_get", methods=["GET"]),
]
