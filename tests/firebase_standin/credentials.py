"""Throwaway service-account keys, made locally, so firebase-admin can sign custom tokens offline.

The key is generated on the spot and never leaves the machine; nothing at Google knows it, so a
token signed with it only proves that the backend ran the real signing code.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def service_account_info(project_id: str = "peardeck-test") -> dict[str, Any]:
    """A service-account JSON document with a fresh 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode()
    client_email = f"firebase-adminsdk-test@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**20)),
        # Never contacted: custom tokens are signed locally and the database is the stand-in.
        "token_uri": "http://127.0.0.1:9/token",
    }


def public_key_pem(info: dict[str, Any]) -> bytes:
    """The public half of the key in ``info``, to verify tokens signed with it."""
    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    return key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_service_account(directory: Path, project_id: str = "peardeck-test") -> Path:
    """Writes a throwaway service-account file (mode 0600) and returns its path, for
    FIREBASE_CREDENTIALS_FILE."""
    path = Path(directory) / f"{project_id}-service-account.json"
    path.write_text(json.dumps(service_account_info(project_id), indent=2))
    path.chmod(0o600)
    return path
