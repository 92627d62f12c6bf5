"""Encryption at rest for the TOTP secrets: Fernet (AES-128-CBC with HMAC-SHA256, from the
`cryptography` package), under a key derived from SECRET_KEY with HKDF.

The derived key is used for nothing else (its own HKDF `info`), so neither a token signature
nor a cursor ever shares key material with it. Changing SECRET_KEY makes the stored secrets
unreadable: users with 2FA on must then be reset by a superuser (`mfa_enabled: false`).
"""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PURPOSE = b"modulith:totp-secret-encryption"


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The plain text, or None when it was sealed under another key (or tampered with)."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except InvalidToken:
            return None
