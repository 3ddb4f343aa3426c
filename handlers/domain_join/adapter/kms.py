"""``Sealer``: seals one-time passwords with the hub's KMS key (``kms:Encrypt``, one call per request).

What to seal and under which encryption context is decided by ``sealing`` (pure); this part makes the
calls, in the key's own Region, with the function's own credentials.

Example::

    sealer = Sealer(sessions, "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-...")
    sealer.seal([SealRequest("NAME=OTP=STAMP", {"ec2-domain-join:purpose": "prestage", ...})])
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import arns
from ..sealing import SealRequest, to_text
from .errors import translated
from .sessions import Sessions


class Sealer:
    """``kms:Encrypt`` of each request under ``key_arn`` ("" = no sealing key: ``enabled`` is False)."""

    def __init__(self, sessions: Sessions, key_arn: str) -> None:
        self._sessions = sessions
        self.key_arn = key_arn

    @property
    def enabled(self) -> bool:
        return bool(self.key_arn)

    def seal(self, requests: Sequence[SealRequest]) -> tuple[str, ...]:
        """The ciphertexts (wire text, ``sealing.to_text``), in the order of ``requests``."""
        if not self.key_arn:
            raise ValueError("no sealing key configured")
        client = self._sessions.hub_client("kms", arns.parse_arn(self.key_arn).region)
        sealed: list[str] = []
        for request in requests:
            with translated("kms:Encrypt"):
                response = client.encrypt(
                    KeyId=self.key_arn,
                    Plaintext=request.plaintext.encode("ascii"),
                    EncryptionContext=dict(request.context),
                )
            sealed.append(to_text(response["CiphertextBlob"]))
        return tuple(sealed)
