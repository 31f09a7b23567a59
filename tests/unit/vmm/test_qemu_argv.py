from pathlib import Path

from banger.vmm.base import Drive, NetIf, VMSpec
from banger.vmm.qemu.argv import guest_cmdline, host_tsc_khz, qemu_argv, read_host_tsc_khz


def _spec(**overrides: object) -> VMSpec:
    fields: dict[str, object] = {
        "vm_id": "vm1",
        "name": "web",
        "vm_dir": Path("/state/vms/vm1"),
        "cpus": 2,
        "memory_mib": 512,
        "kernel": Path("/k/vmlinuz"),
        "initrd": Path("/k/initrd.img"),
        "cmdline": "console=ttyS0 root=/dev/vda",
        "drives": [
            Drive(id="root", path=Path("/d/root.ext4")),
            Drive(id="work", path=Path("/d/w")),
        ],
        "net": NetIf(tap="tap-vm1", mac="02:00:0a:00:00:05"),
        "console_log": Path("/state/vms/vm1/console.log"),
        "accel": "tcg",
    }
    fields.update(overrides)
    return VMSpec.model_validate(fields)


def _value(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_tcg_argv_has_microvm_mmio_devices_and_control_files() -> None:
    argv = qemu_argv(_spec(), "/usr/bin/qemu-system-x86_64", tsc_khz=2596000)
    assert argv[0] == "/usr/bin/qemu-system-x86_64"
    assert _value(argv, "-machine")[0].startswith("microvm")
    assert _value(argv, "-accel") == ["tcg"]
    assert _value(argv, "-cpu") == ["max"]
    assert _value(argv, "-smp") == ["2"] and _value(argv, "-m") == ["512M"]
    for flag in ("-nodefaults", "-no-user-config", "-no-reboot", "-daemonize"):
        assert flag in argv
    # O_APPEND (append=on): the daemon trims the log in place while QEMU writes it.
    assert _value(argv, "-serial") == ["chardev:console"]
    assert _value(argv, "-chardev") == ["file,id=console,path=/state/vms/vm1/console.log,append=on"]
    assert _value(argv, "-qmp") == ["unix:/state/vms/vm1/qmp.sock,server=on,wait=off"]
    assert _value(argv, "-pidfile") == ["/state/vms/vm1/qemu.pid"]
    assert _value(argv, "-initrd") == ["/k/initrd.img"]
    assert _value(argv, "-append") == ["console=ttyS0 root=/dev/vda tsc_early_khz=2596000"]
    devices = _value(argv, "-device")
    assert devices[:2] == ["virtio-blk-device,drive=root", "virtio-blk-device,drive=work"]
    assert devices[2] == "virtio-net-device,netdev=net0,mac=02:00:0a:00:00:05"
    assert _value(argv, "-netdev") == ["tap,id=net0,ifname=tap-vm1,script=no,downscript=no"]
    assert _value(argv, "-drive")[0] == "id=root,file=/d/root.ext4,format=raw,if=none"


def test_kvm_uses_host_cpu_and_leaves_cmdline_alone() -> None:
    argv = qemu_argv(_spec(accel="kvm", net=None, initrd=None), "qemu", tsc_khz=2596000)
    assert _value(argv, "-accel") == ["kvm"] and _value(argv, "-cpu") == ["host"]
    assert _value(argv, "-append") == ["console=ttyS0 root=/dev/vda"]
    assert "-initrd" not in argv and "-netdev" not in argv


def test_read_only_drive_vsock_and_comma_escaping() -> None:
    spec = _spec(
        drives=[Drive(id="ro", path=Path("/d/a,b.img"), read_only=True)],
        vsock_cid=7,
        console_log=Path("/logs/x,y.log"),
    )
    argv = qemu_argv(spec, "qemu")
    assert _value(argv, "-drive") == ["id=ro,file=/d/a,,b.img,format=raw,if=none,read-only=on"]
    assert _value(argv, "-chardev") == ["file,id=console,path=/logs/x,,y.log,append=on"]
    assert "vhost-vsock-device,guest-cid=7" in _value(argv, "-device")


def test_tsc_is_not_added_twice_nor_without_a_rate() -> None:
    assert guest_cmdline(_spec(cmdline="a tsc_early_khz=1"), 5) == "a tsc_early_khz=1"
    assert guest_cmdline(_spec(cmdline="a"), None) == "a"


def test_host_tsc_khz_parses_first_cpu_and_requires_constant_tsc() -> None:
    block = "processor\t: {n}\ncpu MHz\t\t: {mhz}\nflags\t\t: fpu tsc {flag} nonstop_tsc\n\n"
    text = block.format(n=0, mhz="2596.123", flag="constant_tsc") + block.format(
        n=1, mhz="1000.0", flag="constant_tsc"
    )
    assert host_tsc_khz(text) == 2596123
    assert host_tsc_khz(block.format(n=0, mhz="2596.1", flag="")) is None
    assert host_tsc_khz("processor: 0\n") is None


def test_this_host_reports_a_plausible_tsc_rate() -> None:
    khz = read_host_tsc_khz()
    assert khz is not None and 100_000 < khz < 10_000_000
