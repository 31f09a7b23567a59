"""Host capability probes behind `banger doctor` (and the daemon's backend choice)."""

from banger.doctor.checks import host_checks
from banger.doctor.kvm import KvmVerdict, device_verdict, probe_kvm
from banger.doctor.kvm_cache import VerdictCache, fingerprint

__all__ = [
    "KvmVerdict",
    "VerdictCache",
    "device_verdict",
    "fingerprint",
    "host_checks",
    "probe_kvm",
]
