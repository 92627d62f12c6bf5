"""Recovery codes: each a substitute for one TOTP code, for a user who lost their
authenticator.

A code is 16 base32 characters (80 random bits), shown once in four groups
(`ABCD-EFGH-JKLM-NPQR`; dashes and case do not matter when it is typed back). It is stored as
an HMAC-SHA256 under a key derived from SECRET_KEY with HKDF for this use alone: a copy of the
table cannot be searched offline without the key. Changing SECRET_KEY voids the codes, as it
voids the TOTP secrets (`secret_box.py`).

Codes made before these rules (10 characters, 50 bits, stored as plain SHA-256) keep working
until they are used or replaced by turning 2FA on again, so nobody is locked out by the change.
"""

import hashlib
import hmac
import re
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32: no 0/O or 1/I to confuse
LENGTH = 16  # x 5 bits
GROUP = 4
CODE = re.compile(r"[A-Z2-7]{4}(-?[A-Z2-7]{4}){3}", re.IGNORECASE)
LEGACY_CODE = re.compile(r"[A-Z2-7]{5}-?[A-Z2-7]{5}", re.IGNORECASE)
_PURPOSE = b"modulith:recovery-code-hash"


class RecoveryCodeHasher:
    def __init__(self, secret_key: str) -> None:
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
            secret_key.encode()
        )

    @staticmethod
    def new_code() -> str:
        chars = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        return "-".join(chars[i : i + GROUP] for i in range(0, LENGTH, GROUP))

    @staticmethod
    def is_code(text: str) -> bool:
        return CODE.fullmatch(text) is not None or LEGACY_CODE.fullmatch(text) is not None

    def hash(self, code: str) -> str:
        """What a code (in any of its accepted spellings) is stored as."""
        normalized = code.replace("-", "").upper()
        if len(normalized) == LENGTH:
            return hmac.new(self._key, normalized.encode(), hashlib.sha256).hexdigest()
        return hashlib.sha256(normalized.encode()).hexdigest()  # a code of the old rules
