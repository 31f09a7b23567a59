"""Host capability probes behind `banger doctor` (and the daemon's backend choice)."""

from banger.doctor.checks import host_checks
from banger.doctor.kvm import KvmVerdict, probe_kvm

__all__ = ["KvmVerdict", "host_checks", "probe_kvm"]
