"""The /init script of banger's generated initrd (POSIX sh for busybox).

It is a Python constant rather than a package data file because the kernels package
builds the initrd and must not depend on banger.guest. Every failure path prints a
message and powers off: if PID 1 exited the kernel would panic, and a hang would hide
the reason from the console log.
"""

INIT_SCRIPT = r"""#!/bin/busybox sh
# banger generated initrd: load drivers, mount root=, switch_root to init=.
BB=/bin/busybox
PATH=/bin
export PATH

say() { echo "banger-initrd: $*"; }

die() {
    say "FATAL: $*"
    say "powering off"
    $BB sync
    $BB poweroff -f
    # poweroff only fails without ACPI; fall back to the sysrq trigger, then to a panic.
    echo o >/proc/sysrq-trigger
    $BB sleep 5
    exit 1
}

$BB mkdir -p /proc /sys /dev /newroot
$BB mount -t proc proc /proc || die "cannot mount /proc"
$BB mount -t sysfs sysfs /sys || die "cannot mount /sys"
$BB mount -t devtmpfs devtmpfs /dev || die "cannot mount /dev"
exec </dev/console >/dev/console 2>&1

root=""
fstype=ext4
mode=rw
init=/sbin/init
wait_secs=30
for arg in $($BB cat /proc/cmdline); do
    case "$arg" in
        root=*) root="${arg#root=}" ;;
        rootfstype=*) fstype="${arg#rootfstype=}" ;;
        init=*) init="${arg#init=}" ;;
        banger.rootwait=*) wait_secs="${arg#banger.rootwait=}" ;;
        ro) mode=ro ;;
        rw) mode=rw ;;
    esac
done
[ -n "$root" ] || die "no root= on the kernel command line"

while read -r module; do
    [ -n "$module" ] || continue
    $BB insmod "/lib/modules/$module" || say "warning: insmod $module failed"
done </etc/banger-modules
say "modules loaded"

resolve_root() {
    case "$root" in
        UUID=* | LABEL=*) $BB findfs "$root" 2>/dev/null ;;
        *) [ -b "$root" ] && echo "$root" ;;
    esac
}

# Poll five times a second until the disk appears or the bounded wait runs out.
tries=$((wait_secs * 5))
device=""
while [ "$tries" -gt 0 ]; do
    device=$(resolve_root)
    [ -n "$device" ] && break
    $BB sleep 0.2
    tries=$((tries - 1))
done
[ -n "$device" ] || die "root device $root did not appear within ${wait_secs}s"

say "mounting $device ($fstype, $mode) on /newroot"
$BB mount -t "$fstype" -o "$mode" "$device" /newroot || die "cannot mount $device as $fstype"
[ -x "/newroot$init" ] || [ -L "/newroot$init" ] || die "init $init not found on root"

for dir in dev proc sys; do
    if [ -d "/newroot/$dir" ]; then
        $BB mount --move "/$dir" "/newroot/$dir"
    else
        $BB umount -l "/$dir"
    fi
done
say "switching to $init"
exec $BB switch_root /newroot "$init"
"""
