"""A local stand-in for the Firebase Realtime Database, spoken to through the real firebase-admin.

See README.md in this folder. ``StandIn`` is the server; ``fixtures`` has the pytest fixtures.
"""

from .server import DOWN_MODES, OWNER_TOKEN, StandIn

__all__ = ["DOWN_MODES", "OWNER_TOKEN", "StandIn"]
