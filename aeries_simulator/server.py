"""HTTP(S) plumbing: a threaded server on 127.0.0.1 and low-level ways to answer (or fail to)."""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .routes import Response

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
HANDSHAKE_TIMEOUT_SECONDS = 10.0  # a client that connects but never says hello frees its thread

Dispatch = Callable[["RequestHandler"], None]


class RequestHandler(BaseHTTPRequestHandler):
    """Hands every request to the server's dispatch function."""

    protocol_version = "HTTP/1.1"  # keep-alive, as IIS serves Aeries
    # Headers and body go out as two writes: with Nagle's algorithm on, a small body waited ~40 ms for
    # the client's delayed ACK on every kept-alive request, a stall a real server does not add.
    disable_nagle_algorithm = True
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    server: SimulatorHttpServer

    def setup(self) -> None:
        """Finish the TLS handshake (HTTPS only) in this request's thread, then set up the streams.

        A failed handshake (e.g. the client rejects the certificate) raises ssl.SSLError here; the
        server logs it via handle_error and closes the connection.
        """
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    # Method names are fixed by BaseHTTPRequestHandler.
    def do_GET(self) -> None:
        """Dispatch a GET."""
        self.server.dispatch(self)

    def do_POST(self) -> None:
        """Dispatch a POST (admin routes; API routes answer 405)."""
        self.server.dispatch(self)

    def do_PUT(self) -> None:
        """Dispatch a PUT (answered with 405 or 404)."""
        self.server.dispatch(self)

    def do_DELETE(self) -> None:
        """Dispatch a DELETE (answered with 405 or 404)."""
        self.server.dispatch(self)

    def log_message(self, format: str, *args: object) -> None:
        """Send access logs to logging at DEBUG instead of stderr."""
        logger.debug("%s " + format, self.address_string(), *args)

    def write(self, response: Response) -> None:
        """Write a complete response."""
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def write_truncated(self, response: Response) -> None:
        """Promise the whole body in Content-Length, send half of it, then close."""
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body) + 16))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body[: len(response.body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def reset(self) -> None:
        """Abort the connection with a TCP reset (SO_LINGER 0), sending nothing."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:  # the client may already be gone
            pass
        self.close_connection = True


def tls_server_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """Build a server-side TLS context from PEM files.

    Args:
        certfile: PEM file with the server certificate (and any intermediates).
        keyfile: PEM file with the private key; None when ``certfile`` holds it too.

    Returns:
        A context for ``AeriesSimulator.start(ssl_context=...)``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


class SimulatorHttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to loopback only, with daemon request threads; HTTPS when given a context."""

    daemon_threads = True  # a hanging request must never hold up stop()
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, port: int, dispatch: Dispatch, ssl_context: ssl.SSLContext | None = None) -> None:
        """Bind 127.0.0.1:port (0 = ephemeral).

        Args:
            port: TCP port, 0 for an ephemeral one.
            dispatch: Called with every request's handler.
            ssl_context: Server-side TLS context; when given, the listening socket is wrapped and
                every connection speaks HTTPS (the handshake runs in the request's thread).
        """
        super().__init__((LOOPBACK, port), RequestHandler)
        self.dispatch = dispatch
        self.tls = ssl_context is not None
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: object, client_address: object) -> None:
        """Log handler errors (clients hanging up mid-response or refusing the certificate are routine here)."""
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLError):
            logger.debug("TLS with %s failed: %s", client_address, error)
            return
        logger.debug("request from %s failed", client_address, exc_info=True)


class ServerThread:
    """Runs a SimulatorHttpServer in a background thread."""

    def __init__(self, port: int, dispatch: Dispatch, ssl_context: ssl.SSLContext | None = None) -> None:
        """Bind immediately so the port is known before start() returns (HTTPS with ``ssl_context``)."""
        self.httpd = SimulatorHttpServer(port, dispatch, ssl_context)
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="aeries-simulator", daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.httpd.server_address[1])

    @property
    def scheme(self) -> str:
        """The URL scheme: "https" when serving TLS, else "http"."""
        return "https" if self.httpd.tls else "http"

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
