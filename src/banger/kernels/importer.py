"""Import a kernel into a self-contained directory: vmlinux, bzImage, initrd, config, modules.

Everything is built in a private (0700) work directory and renamed into place at the end,
so a failure or cancellation leaves nothing behind and readers never see half a kernel.
The daemon puts that work directory under its state dir's tmp/, which it empties at
start, so not even a crash leaves a trace. Inputs are read as regular files only, from
trees only within them (see source.py and private.py); the result is the daemon's alone.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import uuid
from pathlib import Path

from banger import proc
from banger.errors import FailedPrecondition, InvalidArgument, NotFound
from banger.kernels import features as feat
from banger.kernels import model
from banger.kernels.bzimage import elf_arch, extract_vmlinux, is_bzimage
from banger.kernels.initrd import DEFAULT_BUSYBOX, build_initrd
from banger.kernels.modtree import copy_modules
from banger.kernels.modules import parse_modules_builtin, parse_modules_dep
from banger.kernels.private import (
    copy_regular,
    lock_down,
    make_private_dir,
    read_regular,
    write_private,
)
from banger.kernels.source import (
    KernelParts,
    banner_version,
    find_in_tree,
    is_deb,
    unpack_deb,
)
from banger.ops.reporter import Reporter

RELEASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}")
KERNEL_LIMIT = 512 << 20  # a bzImage is ~10 MiB; a vmlinux with debug info can be hundreds
CONFIG_LIMIT = 16 << 20
INITRD_LIMIT = 2 << 30


def _resolve_parts(source: Path, scratch: Path, reporter: Reporter, label: str) -> KernelParts:
    if source.is_dir():
        return find_in_tree(source)
    if is_deb(source):
        reporter.stage("unpack")
        return find_in_tree(unpack_deb(source, scratch / "deb", reporter, label=label))
    return KernelParts(source, None, None, None)


def _vmlinux(kernel: bytes) -> tuple[bytes, bool, str, str | None]:
    """(ELF vmlinux, is_bzimage, arch, version from the setup header)."""
    if is_bzimage(kernel):
        extracted = extract_vmlinux(kernel)
        return extracted.vmlinux, True, extracted.arch, extracted.version
    arch = elf_arch(kernel)
    if arch is None:
        raise InvalidArgument(
            "kernel file is neither a bzImage nor an ELF vmlinux",
            hint="pass a vmlinuz/bzImage, a vmlinux, a kernel .deb or an unpacked tree",
        )
    return kernel, False, arch, None


def _stage_modules(src: Path, version: str, scratch: Path, stage: Path, reporter: Reporter) -> Path:
    """Copy lib/modules/<version> and make sure modules.dep exists (the .deb has none)."""
    reporter.stage("copy modules")
    depmod_root = scratch / "depmod-root"
    target = depmod_root / "lib" / "modules" / version
    target.parent.mkdir(parents=True, mode=0o700)
    copy_modules(src, target, reporter)
    if not (target / "modules.dep").is_file():
        reporter.stage("depmod")
        # depmod -b ROOT VERSION writes ROOT/lib/modules/VERSION/modules.dep*
        proc.run(["depmod", "-b", depmod_root, version], hint="install kmod")
    final = stage / model.MODULES / version
    make_private_dir(final.parent)
    target.rename(final)
    return final


def _detect_features(
    config_text: str | None, modules_dir: Path | None
) -> tuple[dict[str, feat.FeatureState], bool]:
    if config_text is not None:
        config = feat.parse_config(config_text)
        return feat.features_from_config(config), config.get(feat.MMIO_CMDLINE_SYMBOL) == "y"
    builtin: set[str] = set()
    loadable: set[str] = set()
    if modules_dir is not None:
        if (modules_dir / "modules.builtin").is_file():
            builtin = parse_modules_builtin((modules_dir / "modules.builtin").read_text())
        loadable = set(parse_modules_dep((modules_dir / "modules.dep").read_text()))
    # Without a config we cannot know about the mmio cmdline option; assume absent.
    return feat.features_from_modules(builtin, loadable), False


def _release(version: str | None, label: str) -> str:
    """The kernel's release name, checked: it names a directory and is depmod's argument."""
    if version is None:
        raise InvalidArgument(
            f"cannot tell the kernel version of {label}",
            hint="import it from a kernel package or an unpacked tree",
        )
    if not RELEASE.fullmatch(version):
        # "..", "/" or "-o" in it would climb out of a path or become a depmod option.
        raise InvalidArgument(
            f"kernel version {version!r} of {label} is not a kernel release name",
            hint="import a kernel whose release is like 6.1.0-28-cloud-amd64",
        )
    return version


def _stage_kernel(
    parts: KernelParts, stage: Path, label: str, reporter: Reporter
) -> tuple[bytes, bool, str, str]:
    """Stage the ELF vmlinux (and the bzImage it came from); return (vmlinux, whether it
    was a bzImage, arch, release)."""
    kernel_bytes = read_regular(parts.kernel, "kernel file", KERNEL_LIMIT)
    reporter.stage("extract vmlinux")
    vmlinux, was_bzimage, arch, header_version = _vmlinux(kernel_bytes)
    write_private(stage / model.VMLINUX, vmlinux)
    if was_bzimage:
        write_private(stage / model.BZIMAGE, kernel_bytes)
    version = _release(parts.version or header_version or banner_version(vmlinux), label)
    return vmlinux, was_bzimage, arch, version


def _stage_config(config: Path | None, vmlinux: bytes, stage: Path) -> str | None:
    """The kernel's config (its file, else the one embedded in vmlinux), staged if found."""
    if config is not None:
        text: str | None = read_regular(config, "kernel config", CONFIG_LIMIT).decode(
            errors="replace"
        )
    else:
        text = feat.embedded_config(vmlinux)
    if text is not None:
        write_private(stage / model.CONFIG, text.encode())
    return text


def _generate_initrd(
    stage: Path,
    version: str,
    needed: list[str],
    staged_modules: Path | None,
    busybox: Path,
    reporter: Reporter,
) -> list[str]:
    """Build the initrd that loads the modules this kernel needs to boot; its load order."""
    if staged_modules is None:
        raise FailedPrecondition(
            f"kernel {version} needs modules ({', '.join(needed)}) but has no modules tree",
            hint="pass modules_dir=lib/modules/<version>, or an initrd",
        )
    reporter.stage("build initrd")
    available = parse_modules_dep((staged_modules / "modules.dep").read_text())
    extras = [m for m in feat.POWER_BUTTON_MODULES if m in available]
    return build_initrd(
        stage / model.INITRD,
        modules_dir=staged_modules,
        modules=needed + extras,
        busybox=busybox,
        reporter=reporter,
    )


def import_kernel(
    source: Path,
    dest: Path,
    *,
    name: str,
    modules_dir: Path | None = None,
    initrd: Path | None = None,
    busybox: Path | None = None,
    reporter: Reporter,
    work_dir: Path | None = None,
    label: str | None = None,
) -> model.KernelInfo:
    """Import `source` (.deb, unpacked tree, bzImage or ELF vmlinux) into new dir `dest`.

    Paths are read with this process's own rights: the daemon hands in only private copies
    made as its caller (kernels/caller.py). `work_dir`, created here and removed on return,
    must be on dest's filesystem; by default it is a hidden sibling of dest. `label` is how
    errors name the source (the caller's own path, when `source` is a private copy).
    """
    if not source.exists():
        raise NotFound(f"kernel source {source} does not exist", hint="check the path")
    if dest.exists():
        raise InvalidArgument(f"{dest} already exists", hint="remove it or choose another name")
    if work_dir is None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        work_dir = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as cleanup:
        make_private_dir(work_dir)
        cleanup.callback(shutil.rmtree, work_dir, ignore_errors=True)
        scratch, stage = work_dir / "scratch", work_dir / "kernel"
        make_private_dir(scratch)
        make_private_dir(stage)
        if initrd is not None:
            copy_regular(initrd, stage / model.INITRD, "initrd", INITRD_LIMIT)

        reporter.stage("inspect")
        parts = _resolve_parts(source, scratch, reporter, label or str(source))
        vmlinux, was_bzimage, arch, version = _stage_kernel(
            parts, stage, label or str(source), reporter
        )
        config_text = _stage_config(parts.config, vmlinux, stage)
        del vmlinux

        src_modules = modules_dir or parts.modules_dir
        staged_modules = None
        if src_modules is not None:
            if not src_modules.is_dir():
                raise NotFound(f"modules dir {src_modules} does not exist", hint="check the path")
            staged_modules = _stage_modules(src_modules, version, scratch, stage, reporter)

        features, mmio_cmdline = _detect_features(config_text, staged_modules)
        needed = feat.modules_needed_at_boot(features)
        initrd_modules: list[str] = []
        if initrd is None and needed:
            initrd_modules = _generate_initrd(
                stage, version, needed, staged_modules, busybox or DEFAULT_BUSYBOX, reporter
            )
        reporter.check_cancelled()

        info = model.KernelInfo(
            name=name,
            version=version,
            arch=arch,  # type: ignore[arg-type]
            has_bzimage=was_bzimage,
            has_initrd=initrd is not None or bool(needed),
            initrd_generated=initrd is None and bool(needed),
            features=features,
            mmio_cmdline_devices=mmio_cmdline,
            initrd_modules=initrd_modules,
        )
        write_private(stage / model.KERNEL_JSON, (info.model_dump_json(indent=2) + "\n").encode())
        lock_down(stage)
        stage.rename(dest)
    reporter.log(f"imported kernel {name} {version} ({arch}) into {dest}")
    return info
