"""The QEMU command line as a pure function of the VM spec (no I/O), plus the TSC probe."""

from __future__ import annotations

from pathlib import Path

from banger.vmm.base import VMSpec

QMP_SOCKET = "qmp.sock"
PIDFILE = "qemu.pid"


def qmp_socket_path(spec: VMSpec) -> Path:
    return spec.vm_dir / QMP_SOCKET


def pidfile_path(spec: VMSpec) -> Path:
    return spec.vm_dir / PIDFILE


def _opt(value: str | Path) -> str:
    """Escape a value for QEMU's key=value option syntax, where ',' must be doubled."""
    return str(value).replace(",", ",,")


def guest_cmdline(spec: VMSpec, tsc_khz: int | None) -> str:
    """The kernel command line; under TCG pin the TSC rate, else ~1 boot in 8 hangs (PIT)."""
    if spec.accel == "tcg" and tsc_khz and "tsc_early_khz=" not in spec.cmdline:
        return f"{spec.cmdline} tsc_early_khz={tsc_khz}"
    return spec.cmdline


def qemu_argv(spec: VMSpec, qemu_bin: str, tsc_khz: int | None = None) -> list[str]:
    """argv for a microvm with virtio-mmio devices, daemonized, serial into console_log."""
    argv = [qemu_bin, "-machine", "microvm,acpi=on", "-accel", spec.accel]
    argv += ["-cpu", "max" if spec.accel == "tcg" else "host"]
    argv += ["-smp", str(spec.cpus), "-m", f"{spec.memory_mib}M", "-name", _opt(spec.name)]
    # -display none rather than -nographic: QEMU refuses -nographic with -daemonize.
    argv += ["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]
    # append=on opens the log O_APPEND (-serial file: would not): the daemon trims a long
    # console in place (guest.console_log) and appends must land at the new end.
    argv += ["-chardev", f"file,id=console,path={_opt(spec.console_log)},append=on"]
    argv += ["-serial", "chardev:console"]
    argv += ["-qmp", f"unix:{_opt(qmp_socket_path(spec))},server=on,wait=off"]
    argv += ["-pidfile", str(pidfile_path(spec)), "-daemonize"]
    argv += ["-kernel", str(spec.kernel), "-append", guest_cmdline(spec, tsc_khz)]
    if spec.initrd is not None:
        argv += ["-initrd", str(spec.initrd)]
    for drive in spec.drives:
        ro = ",read-only=on" if drive.read_only else ""
        argv += ["-drive", f"id={drive.id},file={_opt(drive.path)},format=raw,if=none{ro}"]
        argv += ["-device", f"virtio-blk-device,drive={drive.id}"]
    if spec.net is not None:
        argv += ["-netdev", f"tap,id=net0,ifname={spec.net.tap},script=no,downscript=no"]
        argv += ["-device", f"virtio-net-device,netdev=net0,mac={spec.net.mac}"]
    if spec.vsock_cid is not None:
        argv += ["-device", f"vhost-vsock-device,guest-cid={spec.vsock_cid}"]
    return argv


def host_tsc_khz(cpuinfo: str) -> int | None:
    """The host TSC rate in kHz from /proc/cpuinfo text, if the TSC is constant-rate.

    Under TCG QEMU's guest TSC ticks at the host rate, so that is the value to pin.
    """
    has_constant_tsc = False
    mhz: float | None = None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags":
            has_constant_tsc = "constant_tsc" in value.split()
        elif key == "cpu MHz" and mhz is None:
            mhz = float(value)
        if key == "" and mhz is not None:
            break  # only the first CPU's block matters
    if mhz is None or not has_constant_tsc:
        return None
    return round(mhz * 1000)


def read_host_tsc_khz() -> int | None:
    """Prefer the kernel's own TSC rate (exported by some kernels), else /proc/cpuinfo."""
    try:
        return int(Path("/sys/devices/system/cpu/cpu0/tsc_freq_khz").read_text())
    except (OSError, ValueError):
        pass
    try:
        return host_tsc_khz(Path("/proc/cpuinfo").read_text())
    except OSError:
        return None
