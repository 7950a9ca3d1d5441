"""The `aws-acm` destination: AWS Certificate Manager through boto3. The first push imports the
certificate (ImportCertificate) and remembers its ARN; later pushes re-import into that ARN, so load
balancers and CloudFront keep using the same certificate resource. boto3 is imported only here and
only when the destination is used (`pip install 'acme-server[aws]'`)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final
from urllib.parse import urlsplit

from acme_server.destinations.base import (
    Bundle,
    DestinationError,
    DestinationHost,
    PushResult,
    read_secrets,
    read_tags,
)
from ca_core.documents import read_object, read_string
from ca_core.errors import InvalidSetting

_KEYS: Final = ("region", "endpointUrl", "certificateArn", "tags")
_SECRETS: Final = ("accessKeyId", "secretAccessKey", "sessionToken")
_TIMEOUT: Final = 30  # seconds, for connecting and for each read


def _boto3() -> ModuleType:
    try:
        return importlib.import_module("boto3")
    except ImportError:
        raise InvalidSetting(
            "destinationType", "aws-acm needs boto3; install it with: pip install 'acme-server[aws]'"
        ) from None


@dataclass(frozen=True)
class AwsAcmTarget:
    region: str
    endpoint_url: str | None
    certificate_arn: str | None  # an existing certificate to re-import into from the first push
    tags: tuple[tuple[str, str], ...]
    credentials: Mapping[str, str]

    def _client(self) -> Any:
        boto3 = _boto3()
        botocore_config = importlib.import_module("botocore.config")
        options: dict[str, Any] = {
            "region_name": self.region,
            "config": botocore_config.Config(
                connect_timeout=_TIMEOUT, read_timeout=_TIMEOUT, retries={"max_attempts": 3}
            ),
        }
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        if self.credentials:
            options["aws_access_key_id"] = self.credentials["accessKeyId"]
            options["aws_secret_access_key"] = self.credentials["secretAccessKey"]
            options["aws_session_token"] = self.credentials.get("sessionToken")
        return boto3.session.Session().client("acm", **options)

    async def push(self, bundle: Bundle, state: Mapping[str, Any]) -> PushResult:
        if bundle.private_key_pem is None:
            raise DestinationError(
                f"certificate {bundle.serial} was issued from a CSR; ACM needs its private key, which the"
                " server does not hold"
            )
        arn = state.get("certificateArn") or self.certificate_arn
        return await asyncio.to_thread(self._import, bundle, arn if isinstance(arn, str) else None)

    def _import(self, bundle: Bundle, arn: str | None) -> PushResult:
        exceptions = importlib.import_module("botocore.exceptions")
        request: dict[str, Any] = {
            "Certificate": bundle.certificate_pem.encode(),
            "PrivateKey": (bundle.private_key_pem or "").encode(),
        }
        if bundle.chain_pem.strip():
            request["CertificateChain"] = bundle.chain_pem.encode()
        if arn is not None:
            request["CertificateArn"] = arn  # re-import: ACM refuses tags here
        elif self.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags]
        try:
            response = self._client().import_certificate(**request)
        except exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            raise DestinationError(
                f"ACM refused the import: {error.get('Code', 'error')}: {error.get('Message', exc)}"
            ) from None
        except exceptions.BotoCoreError as exc:
            raise DestinationError(f"ACM import failed: {exc}") from None
        new_arn = str(response["CertificateArn"])
        verb = "re-imported into" if arn is not None else "imported as"
        return PushResult(f"{verb} {new_arn}", {"certificateArn": new_arn, "serial": bundle.serial})


def _credentials(secrets: Mapping[str, str]) -> dict[str, str]:
    secrets = read_secrets(secrets, _SECRETS)
    if secrets and not ("accessKeyId" in secrets and "secretAccessKey" in secrets):
        raise InvalidSetting("secrets", "give accessKeyId and secretAccessKey together (or neither)")
    return secrets


class AwsAcmDestination:
    type_name = "aws-acm"
    secret_names: tuple[str, ...] = _SECRETS

    def admin_reason(self, config: Mapping[str, Any], host: DestinationHost) -> str | None:
        # Another endpoint than AWS's makes the server connect (and hand over a private key)
        # wherever the caller says.
        if config.get("endpointUrl") is not None:
            return "only an admin may set config.endpointUrl of an aws-acm sync"
        return None

    def configure(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], host: DestinationHost
    ) -> AwsAcmTarget:
        """Without credentials boto3 finds its own (environment, profile, instance role)."""
        _boto3()
        document = read_object(config, "config", _KEYS, root="config")
        if "region" not in document:
            raise InvalidSetting("config.region", "is required, e.g. eu-west-1")
        region = read_string(document["region"], "config.region")
        endpoint = document.get("endpointUrl")
        if endpoint is not None:
            endpoint = read_string(endpoint, "config.endpointUrl")
            if urlsplit(endpoint).scheme not in ("http", "https"):
                raise InvalidSetting("config.endpointUrl", "must be an http:// or https:// URL")
        arn = document.get("certificateArn")
        if arn is not None and not read_string(arn, "config.certificateArn").startswith("arn:"):
            raise InvalidSetting("config.certificateArn", "must be an ACM certificate ARN (arn:...)")
        return AwsAcmTarget(
            region=region,
            endpoint_url=endpoint,
            certificate_arn=arn,
            tags=read_tags(document.get("tags", {})),
            credentials=_credentials(secrets),
        )
