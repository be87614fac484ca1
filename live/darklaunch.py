"""The WebSocket dark launch: a share of Firebase-mode students also try a WebSocket in the
background and report how it went (the `websocket_darklaunch` browser metric), so we learn how
often WebSockets get through school firewalls before any student depends on them.
"""

import hashlib

from django.conf import settings


def websocket_dark_launch(student_id: int | str) -> bool:
    """Whether this student's page should try the background WebSocket.

    Deterministic per student (a reload gives the same answer) and uniform over students: the
    first 8 bytes of a SHA-256 of the id, read as a fraction of 2**64, below the share.
    """
    share = settings.WEBSOCKET_DARK_LAUNCH_SHARE
    if share <= 0:
        return False
    if share >= 1:
        return True
    digest = hashlib.sha256(f"websocket-dark-launch:{student_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
