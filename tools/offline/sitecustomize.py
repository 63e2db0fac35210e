"""Keep a notebook run offline: no Python process it starts may reach the network.

``make test`` and ``make execute`` put this folder first on ``PYTHONPATH`` and set
``COURSE_BLOCK_NETWORK=1``. Python imports ``sitecustomize`` at start-up, so every Python process
of the run picks this up: pytest, nbval's kernels (``jupyter_client`` starts them with the
parent's environment) and anything a notebook starts (e.g. ``torch.multiprocessing``'s workers).

With ``COURSE_BLOCK_NETWORK`` set to ``1``, ``socket.socket.connect``/``connect_ex`` refuse any
address that is not on this machine, and ``socket.getaddrinfo`` refuses to look up a name that is
not local (IP addresses pass it: ``connect`` decides), with an ``OSError`` that names the address
and says the course runs offline. Loopback (``127.0.0.0/8``, ``::1``, ``localhost``) and Unix
sockets stay open: Jupyter's kernels talk to their client over 127.0.0.1, and chapter 09 runs
``torch.distributed`` over 127.0.0.1.

This guards Python's ``socket`` module, which urllib, requests, httpx and the Hugging Face Hub
client use; it is not a sandbox (code in C or Rust that opens its own sockets is not seen).
Without the variable this file does nothing, except running any other ``sitecustomize`` that it
hides on ``sys.path`` (e.g. the one a Linux distribution's Python ships).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

VARIABLE = "COURSE_BLOCK_NETWORK"
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_local_host(host: object) -> bool:
    """True for a loopback or unspecified address, or a name of this machine."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None or host == "":
        return True  # getaddrinfo(None, port): the local machine
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()  # "[::1]", "fe80::1%eth0"
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name == socket.gethostname().lower()  # its addresses are checked on connect
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _is_address(host: object) -> bool:
    """True for an IP address literal (looking it up asks no name server)."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _blocked(what: str) -> OSError:
    return OSError(
        f"network access blocked: {what}. The course runs offline "
        f"({VARIABLE}=1 is set for `make test` and `make execute`); only this machine "
        "(127.0.0.1, ::1, localhost) can be reached."
    )


def _check_address(sock: socket.socket, address: object) -> None:
    family = getattr(sock, "family", None)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX and friends never leave the machine
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_local_host(host):
        port = address[1] if isinstance(address, tuple) and len(address) > 1 else "?"
        raise _blocked(f"connecting to {host}:{port}")


def install() -> None:
    """Patch the ``socket`` module (idempotent)."""
    if getattr(socket, "_course_network_blocked", False):
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        _check_address(self, address)
        return original_connect(self, address)

    def connect_ex(self, address):
        _check_address(self, address)
        return original_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not (_is_local_host(host) or _is_address(host)):  # an address: connect decides
            raise socket.gaierror(socket.EAI_NONAME, str(_blocked(f"looking up {host!r}")))
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    socket._course_network_blocked = True


def _run_the_next_sitecustomize() -> None:
    """Run the ``sitecustomize`` this file hides on ``sys.path``, if there is one."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # as Python's own site.py does: report and go on
        print(f"Error in sitecustomize ({spec.origin}): {error!r}", file=sys.stderr)


if os.environ.get(VARIABLE, "").strip() == "1":
    install()
_run_the_next_sitecustomize()
