"""``wss://`` and ``https://`` on your own machine, with certificates nobody else trusts.

A browser only speaks TLS to a server whose certificate chains up to an authority it
trusts. For a lesson, the kit makes its own **local certificate authority** with
`trustme <https://trustme.readthedocs.io/>`_ (a library written for exactly this: tests
that need real TLS): a CA key and certificate that live in this kernel's memory, and
server certificates it signs for ``127.0.0.1``, ``localhost`` and ``::1``. No real key is
ever copied, nothing is installed system-wide, and the CA is gone when the kernel stops.

    >>> server = kit.serve(kit.chat_app(), name="chat", tls=True)   # doctest: +SKIP
    >>> server.url                                                   # doctest: +SKIP
    'https://127.0.0.1:40123'

Who trusts the local CA:

- the kit's own clients (``kit.WebSocket``, ``kit.SocketIOClient``, ``kit.ChatPanel``):
  :func:`client_context` is the system's trust store plus the kit's CA. They still check
  the whole chain and the name, as a browser does;
- a browser, once :attr:`LocalCA.ca_file` is imported into its trust store. Chromium on
  Linux reads the authorities a user added from the NSS database ``$HOME/.pki/nssdb``:
  ``certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "wire-to-room local CA" -i FILE``
  (``certutil`` is in Debian's ``libnss3-tools``). The browser tests do exactly that in a
  temporary HOME, with no certificate-error flag, so Chromium checks chain and name;
- Node.js: ``NODE_EXTRA_CA_CERTS`` set to :attr:`LocalCA.ca_file`;
- nobody else. A program that does not know the CA refuses the server
  (``CERTIFICATE_VERIFY_FAILED``), which is the point of a certificate.

``kit.serve(app, tls=...)`` takes ``True`` (a certificate from the local CA),
a :class:`ServerCertificate`, an ``ssl.SSLContext`` you made, or a pair of file paths
``(certificate chain, private key)``; a file that is missing or not PEM is refused with
:class:`~kit.runtime.errors.TLSSetupError` saying which and why.
"""

from __future__ import annotations

import atexit
import os
import shutil
import ssl
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.runtime.errors import TLSSetupError

__all__ = [
    "LOOPBACK_CERT_NAMES",
    "LocalCA",
    "ServerCertificate",
    "TLSOption",
    "client_context",
    "local_ca",
    "server_context",
]

LOOPBACK_CERT_NAMES = ("127.0.0.1", "localhost", "::1")
"""The names a local server certificate is valid for, unless told otherwise."""
CA_NAME = "wire-to-room local CA (trusted by this kernel only)"


@dataclass(frozen=True)
class ServerCertificate:
    """A server certificate signed by the kit's local CA, with its private key.

    Attributes:
        names: what it is valid for (``subjectAltName``), e.g. ``("127.0.0.1", ...)``.
        cert_pem: the certificate chain in PEM (the server's certificate first).
    """

    names: tuple[str, ...]
    cert_pem: bytes
    _issued: Any  # trustme.LeafCert: holds the private key, in memory only

    def server_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` for a server presenting this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._issued.configure_cert(context)
        return context

    def __repr__(self) -> str:
        return f"<ServerCertificate for {', '.join(self.names)} from the kit's local CA>"


class LocalCA:
    """A certificate authority made by trustme, trusted by this kernel only.

    Attributes:
        cert_pem: the CA's certificate in PEM (what a client adds to its trust).
    """

    def __init__(self) -> None:
        try:
            import trustme
        except ImportError:
            raise TLSSetupError(
                "tls=True needs the trustme package to make a local certificate authority: "
                "pip install trustme (it is in the kit's 'lessons' and 'tests' extras)"
            ) from None
        self._ca = trustme.CA(organization_name="wire-to-room", organization_unit_name=CA_NAME)
        self.cert_pem: bytes = self._ca.cert_pem.bytes()
        self._ca_file: Path | None = None
        self._lock = threading.Lock()

    @property
    def ca_file(self) -> Path:
        """The CA certificate written to a private temporary file (no key is written).

        For programs that read trust from a file: ``NODE_EXTRA_CA_CERTS``, ``curl
        --cacert``, ``openssl s_client -CAfile``. The folder goes when this process
        exits; if it is killed, the next kit process that starts a program removes it
        (its name carries this process's pid, like the child programs' folders).
        """
        with self._lock:
            if self._ca_file is None:
                folder = Path(tempfile.mkdtemp(prefix=f"kit-ca-pid{os.getpid()}-"))
                atexit.register(shutil.rmtree, folder, ignore_errors=True)
                path = folder / "kit-local-ca.pem"
                path.write_bytes(self.cert_pem)
                os.chmod(path, 0o644)
                self._ca_file = path
            return self._ca_file

    def issue(self, names: Sequence[str] = LOOPBACK_CERT_NAMES) -> ServerCertificate:
        """A fresh server certificate for ``names``, signed by this CA."""
        if isinstance(names, str) or not names or not all(isinstance(n, str) for n in names):
            raise TLSSetupError(f"a certificate names hosts like ('127.0.0.1',), not {names!r}")
        issued = self._ca.issue_cert(*names)
        chain = b"".join(blob.bytes() for blob in issued.cert_chain_pems)
        return ServerCertificate(tuple(names), chain, issued)

    def trust(self, context: ssl.SSLContext) -> ssl.SSLContext:
        """Add this CA to ``context``'s trusted authorities; returns ``context``."""
        context.load_verify_locations(cadata=self.cert_pem.decode("ascii"))
        return context

    def __repr__(self) -> str:
        return f"<LocalCA {CA_NAME!r}>"


_LOCAL_CA: LocalCA | None = None
_CA_LOCK = threading.Lock()


def local_ca() -> LocalCA:
    """The kernel's local CA, made on first use (one per process)."""
    global _LOCAL_CA
    with _CA_LOCK:
        if _LOCAL_CA is None:
            _LOCAL_CA = LocalCA()
        return _LOCAL_CA


def client_context() -> ssl.SSLContext:
    """What the kit's clients trust: the system's authorities, plus the local CA if made.

    Verification stays on: the chain must end at a trusted CA and the certificate must
    name the host connected to.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if _LOCAL_CA is not None:
        _LOCAL_CA.trust(context)
    return context


TLSOption = Any
"""What ``kit.serve(tls=...)`` accepts: None/False, True, a ServerCertificate, an
SSLContext, or (certificate file, key file)."""


def server_context(tls: TLSOption) -> tuple[ssl.SSLContext | None, ServerCertificate | None]:
    """The server's ``SSLContext`` for ``kit.serve(tls=...)``, and the certificate if the
    kit made it.

    Raises:
        TLSSetupError: ``tls`` is none of the accepted forms, or its files cannot be
            loaded (missing, not PEM, a key that does not match the certificate).
    """
    if tls is None or tls is False:
        return None, None
    if tls is True:
        certificate = local_ca().issue()
        return certificate.server_context(), certificate
    if isinstance(tls, ServerCertificate):
        return tls.server_context(), tls
    if isinstance(tls, ssl.SSLContext):
        return tls, None
    if isinstance(tls, (tuple, list)) and len(tls) == 2:
        return _from_files(Path(tls[0]), Path(tls[1])), None
    raise TLSSetupError(
        f"tls={tls!r:.60} is not understood: pass True (a certificate from the kit's local "
        "CA), an ssl.SSLContext, or (certificate file, key file)"
    )


def _from_files(cert: Path, key: Path) -> ssl.SSLContext:
    for what, path in (("certificate", cert), ("private key", key)):
        if not path.is_file():
            raise TLSSetupError(f"no {what} file at {path}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TLSSetupError(
            f"cannot use {cert} with {key}: {exc.reason or exc} (are both PEM files, and "
            "is the key the certificate's own?); kit.serve(app, tls=True) makes a "
            "certificate from the kit's local CA instead"
        ) from exc
    return context
