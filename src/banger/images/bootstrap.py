"""Build banger's default image: a minimal Debian with systemd and sshd, as ext4.

Steps (each a reporter stage): `debootstrap` runs mmdebstrap into a directory under the
caller's workdir, `customize` applies banger's image policy (banger.images.customize),
`build ext4` packs the tree with a content-aware size. The tree is always removed; the
image appears at `out_ext4` only complete (make_ext4 renames a checked temp file).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from banger import proc
from banger.disks.ext4 import make_ext4
from banger.errors import BangerError, InvalidArgument
from banger.images.customize import customize_rootfs
from banger.ops.reporter import Reporter, is_cancelled

__all__ = [
    "BASE_PACKAGES",
    "BOOTSTRAP_VERSION",
    "BootstrapResult",
    "bootstrap_debian",
    "host_debian_mirror",
    "mmdebstrap_argv",
]

# Bump whenever the recipe (packages, options, customization) changes the resulting image:
# caches of bootstrapped images key on it.
BOOTSTRAP_VERSION = "1"

# udev: without it systemd waits 90 s for /dev/ttyS0. No ifupdown/dbus: the guest hook
# configures the network itself and nothing here talks D-Bus.
BASE_PACKAGES = (
    "systemd-sysv",
    "udev",
    "openssh-server",
    "iproute2",
    "ca-certificates",
    "netbase",
)

# Documentation and translations are a fifth of a minbase tree; a microVM never reads them.
# The dpkg config stays in the image so later `apt install`s skip them too.
_DPKG_EXCLUDES = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
)

_FALLBACK_MIRROR = "http://deb.debian.org/debian"
_ROLLING_SUITES = {"sid", "unstable", "experimental"}
_BOOTSTRAP_TIMEOUT = 1800.0


@dataclass(frozen=True)
class BootstrapResult:
    image: Path
    suite: str
    mirror: str
    size_bytes: int
    packages: list[str] = field(default_factory=list)  # "name=version", sorted


def _sources_uris(apt_dir: Path) -> list[str]:
    """Main-archive URIs from deb822 .sources files and one-line sources.list entries."""
    uris: list[str] = []
    for sources in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        for stanza in sources.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.startswith(("#", " ")):
                    fields[key.strip().lower()] = value.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            suites = fields.get("suites", "").split()
            if "deb" in fields.get("types", "").split() and any(
                not s.endswith("-security") for s in suites
            ):
                uris.extend(fields.get("uris", "").split())
    sources_list = apt_dir / "sources.list"
    if sources_list.is_file():
        for line in sources_list.read_text().splitlines():
            words = line.split()
            # deb [options] URI suite components...
            words = [w for w in words if not w.startswith("[") and not w.endswith("]")]
            if len(words) >= 3 and words[0] == "deb" and not words[2].endswith("-security"):
                uris.append(words[1])
    return uris


def host_debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian archive this host's apt uses: the one mirror we know is reachable."""
    for uri in _sources_uris(apt_dir):
        if uri.startswith(("http://", "https://")):
            return uri.rstrip("/")
    return _FALLBACK_MIRROR


def mmdebstrap_argv(
    target: Path, *, suite: str, mirror: str, extra_packages: list[str]
) -> list[str]:
    """The mmdebstrap command line (pure, so it can be checked without a network)."""
    include = ",".join(dict.fromkeys([*BASE_PACKAGES, *extra_packages]))
    sources = [f"deb {mirror} {suite} main"]
    if suite not in _ROLLING_SUITES:
        sources.append(f"deb {mirror} {suite}-updates main")
        if mirror.endswith("/debian"):
            # The security archive sits beside the main one on Debian's own mirrors.
            sources.append(f"deb {mirror}-security {suite}-security main")
    argv = ["mmdebstrap", "--mode=root", "--variant=minbase", f"--include={include}"]
    argv += [f"--dpkgopt={opt}" for opt in _DPKG_EXCLUDES]
    return [*argv, suite, str(target), *sources]


def _check_packages(names: list[str]) -> None:
    for name in names:
        # Debian policy package names: lowercase alphanumerics and + - . (no option injection).
        ok = name[:1].isalnum() and all(c.isalnum() or c in "+-." for c in name)
        if not ok or name.lower() != name:
            raise InvalidArgument(
                f"'{name}' is not a valid Debian package name",
                hint="use names like 'curl' or 'python3-venv'",
            )


def _mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below `directory`, deepest first (from /proc/self/mountinfo)."""
    base = directory.resolve()
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces etc. escaped as octal (\040).
        point = Path(line.split()[4].encode().decode("unicode_escape"))
        if point == base or base in point.parents:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def remove_tree(directory: Path) -> None:
    """Remove a bootstrap scratch dir, unmounting first anything a killed mmdebstrap left.

    Without the unmount, rmtree would walk into a still-mounted /proc, /sys or /dev of the
    chroot and try to delete the host's own files.
    """
    for point in _mounts_under(directory):
        proc.run(["umount", "--lazy", point], check=False)  # gone already is fine
    if _mounts_under(directory):
        raise BangerError(
            f"cannot clean up {directory}: filesystems are still mounted below it",
            hint=f"unmount them ('findmnt -R {directory}') and delete the directory",
        )
    shutil.rmtree(directory, ignore_errors=True)


def _installed_packages(root: Path) -> list[str]:
    result = proc.run(
        ["dpkg-query", f"--admindir={root / 'var/lib/dpkg'}", "-W", "-f=${Package}=${Version}\n"]
    )
    return sorted(line for line in result.stdout.splitlines() if line)


def bootstrap_debian(
    out_ext4: Path,
    *,
    suite: str = "bookworm",
    mirror: str | None = None,
    extra_packages: list[str] | None = None,
    free_bytes: int,
    reporter: Reporter,
    workdir: Path,
) -> BootstrapResult:
    """Bootstrap Debian `suite` from `mirror` (default: the host's) into `out_ext4`.

    Must run as root (mmdebstrap root mode keeps owners, setuid bits and device nodes).
    """
    extras = list(extra_packages or [])
    _check_packages(extras)
    if not suite.isalnum():
        raise InvalidArgument(f"'{suite}' is not a Debian suite name", hint="e.g. 'bookworm'")
    mirror = (mirror or host_debian_mirror()).rstrip("/")
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as cleanup:
        scratch = Path(tempfile.mkdtemp(prefix="bootstrap-", dir=workdir))
        # The tree is scratch whatever happens: only the finished image is kept.
        cleanup.callback(remove_tree, scratch)
        tree = scratch / "rootfs"

        reporter.stage("debootstrap")
        reporter.log(f"mmdebstrap {suite} from {mirror}")
        proc.stream(
            mmdebstrap_argv(tree, suite=suite, mirror=mirror, extra_packages=extras),
            reporter.log,
            timeout=_BOOTSTRAP_TIMEOUT,
            cancelled=lambda: is_cancelled(reporter),
            hint=f"check that {mirror} is reachable and the package names exist in {suite}",
        )

        reporter.stage("customize")
        customize_rootfs(tree, reporter.log)
        packages = _installed_packages(tree)
        reporter.check_cancelled()

        reporter.stage("build ext4")
        size = make_ext4(tree, out_ext4, free_bytes=free_bytes, label="rootfs")
        reporter.log(f"built {out_ext4}: {size.bytes} bytes, {size.inodes} inodes")
        return BootstrapResult(
            image=out_ext4,
            suite=suite,
            mirror=mirror,
            size_bytes=size.bytes,
            packages=packages,
        )
