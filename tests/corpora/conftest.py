"""The local HTTP server fixture (`tests.http_server.server`) for the download tests of this folder."""

from tests.http_server import server

__all__ = ["server"]
