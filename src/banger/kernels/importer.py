"""Import a kernel into a self-contained directory: vmlinux, bzImage, initrd, config, modules.

Everything is built in a hidden sibling of `dest` and renamed into place at the end, so a
failure or cancellation leaves nothing behind and readers never see half a kernel.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path

from banger import proc
from banger.errors import FailedPrecondition, InvalidArgument, NotFound
from banger.kernels import features as feat
from banger.kernels import model
from banger.kernels.bzimage import elf_arch, extract_vmlinux, is_bzimage
from banger.kernels.initrd import DEFAULT_BUSYBOX, build_initrd
from banger.kernels.modules import parse_modules_builtin, parse_modules_dep
from banger.kernels.source import (
    KernelParts,
    banner_version,
    find_in_tree,
    is_deb,
    unpack_deb,
)
from banger.ops.reporter import Reporter


def _resolve_parts(source: Path, scratch: Path, reporter: Reporter) -> KernelParts:
    if source.is_dir():
        return find_in_tree(source)
    if is_deb(source):
        reporter.stage("unpack")
        return find_in_tree(unpack_deb(source, scratch / "deb"))
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


def _stage_modules(src: Path, version: str, staging: Path, reporter: Reporter) -> Path:
    """Copy lib/modules/<version> and make sure modules.dep exists (the .deb has none)."""
    reporter.stage("copy modules")
    depmod_root = staging / "depmod-root"
    target = depmod_root / "lib" / "modules" / version
    shutil.copytree(src, target, symlinks=True)
    for link in ("build", "source"):  # point into the build host's source tree
        with contextlib.suppress(FileNotFoundError):
            (target / link).unlink()
    if not (target / "modules.dep").is_file():
        reporter.stage("depmod")
        # depmod -b ROOT VERSION writes ROOT/lib/modules/VERSION/modules.dep*
        proc.run(["depmod", "-b", depmod_root, version], hint="install kmod")
    final = staging / model.MODULES / version
    final.parent.mkdir()
    target.rename(final)
    shutil.rmtree(depmod_root)
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


def import_kernel(
    source: Path,
    dest: Path,
    *,
    name: str,
    modules_dir: Path | None = None,
    initrd: Path | None = None,
    busybox: Path | None = None,
    reporter: Reporter,
) -> model.KernelInfo:
    """Import `source` (.deb, unpacked tree, bzImage or ELF vmlinux) into new dir `dest`."""
    if not source.exists():
        raise NotFound(f"kernel source {source} does not exist", hint="check the path")
    if dest.exists():
        raise InvalidArgument(f"{dest} already exists", hint="remove it or choose another name")
    if initrd is not None and not initrd.is_file():
        raise NotFound(f"initrd {initrd} does not exist", hint="check the path")
    staging = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as undo:
        staging.mkdir(parents=True)
        undo.callback(shutil.rmtree, staging, ignore_errors=True)
        scratch = staging / "scratch"
        scratch.mkdir()

        reporter.stage("inspect")
        parts = _resolve_parts(source, scratch, reporter)
        kernel_bytes = parts.kernel.read_bytes()
        reporter.stage("extract vmlinux")
        vmlinux, was_bzimage, arch, header_version = _vmlinux(kernel_bytes)
        (staging / model.VMLINUX).write_bytes(vmlinux)
        if was_bzimage:
            (staging / model.BZIMAGE).write_bytes(kernel_bytes)
        version = parts.version or header_version or banner_version(vmlinux)
        if version is None:
            raise InvalidArgument(
                f"cannot tell the kernel version of {source}",
                hint="import it from a kernel package or an unpacked tree",
            )
        del kernel_bytes

        config_text = None
        if parts.config is not None:
            config_text = parts.config.read_text()
        else:
            config_text = feat.embedded_config(vmlinux)
        del vmlinux
        if config_text is not None:
            (staging / model.CONFIG).write_text(config_text)

        src_modules = modules_dir or parts.modules_dir
        staged_modules = None
        if src_modules is not None:
            if not src_modules.is_dir():
                raise NotFound(f"modules dir {src_modules} does not exist", hint="check the path")
            staged_modules = _stage_modules(src_modules, version, staging, reporter)

        features, mmio_cmdline = _detect_features(config_text, staged_modules)
        needed = feat.modules_needed_at_boot(features)
        initrd_modules: list[str] = []
        if initrd is not None:
            shutil.copyfile(initrd, staging / model.INITRD)
        elif needed:
            if staged_modules is None:
                raise FailedPrecondition(
                    f"kernel {version} needs modules ({', '.join(needed)}) but has no modules tree",
                    hint="pass modules_dir=lib/modules/<version>, or an initrd",
                )
            reporter.stage("build initrd")
            available = parse_modules_dep((staged_modules / "modules.dep").read_text())
            extras = [m for m in feat.POWER_BUTTON_MODULES if m in available]
            initrd_modules = build_initrd(
                staging / model.INITRD,
                modules_dir=staged_modules,
                modules=needed + extras,
                busybox=busybox or DEFAULT_BUSYBOX,
                reporter=reporter,
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
        (staging / model.KERNEL_JSON).write_text(info.model_dump_json(indent=2) + "\n")
        shutil.rmtree(scratch)
        staging.rename(dest)
        undo.pop_all()
    reporter.log(f"imported kernel {name} {version} ({arch}) into {dest}")
    return info
