"""Generate the SSH host key pair a VM presents, so banger can pin it before first boot."""

from __future__ import annotations

import tempfile
from pathlib import Path

from banger import proc


def generate_host_keypair(workdir: Path) -> tuple[str, str]:
    """A fresh ed25519 key pair as (private key text, public key line)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hostkey-", dir=workdir) as tmp:
        key = Path(tmp) / "ssh_host_ed25519_key"
        proc.run(["ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-C", "banger", "-f", key])
        return key.read_text(), key.with_suffix(".pub").read_text().strip()
