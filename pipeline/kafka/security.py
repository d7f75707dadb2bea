"""Kafka client security (TLS, SASL) from ``Settings``, for aiokafka clients and for the Faust app.

Pure: reads the settings and the certificate files they name, connects to nothing. The SASL password
is handed to clients as a ``str`` whose ``repr`` is masked, so a logged keyword dict or client
config does not show it.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from aiokafka.helpers import create_ssl_context

from pipeline.settings import Settings

if TYPE_CHECKING:
    import faust


class RedactedStr(str):
    """A ``str`` (aiokafka encodes it as usual) that prints as ``'**********'`` in reprs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'**********'"


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The client TLS context for SSL and SASL_SSL (``None`` otherwise): the CA file, or system trust."""
    if not settings.security_protocol.endswith("SSL"):
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
        certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
    )
    if settings.ssl_cafile is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    # The chain is still verified (CERT_REQUIRED) when the host name check is off.
    context.check_hostname = settings.ssl_check_hostname
    return context


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
    options: dict[str, Any] = {"security_protocol": settings.security_protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL_"):
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = RedactedStr(password)
    return options


def faust_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """``broker_credentials`` for ``faust.App``; ``None`` for PLAINTEXT."""
    import faust  # here, so pipeline never imports Faust at module level

    context = ssl_context(settings)
    if settings.security_protocol.startswith("SASL_"):
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        # Faust picks SASL_SSL when given a context, SASL_PLAINTEXT without one.
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=RedactedStr(password),
            ssl_context=context,
            mechanism=settings.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
