"""This process as the others sharing a home or a state store name it: host:pid (job owners, incident entries,
events)."""

from __future__ import annotations

import os
import socket


def process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
