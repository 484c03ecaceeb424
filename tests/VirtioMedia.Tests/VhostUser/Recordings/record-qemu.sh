#!/usr/bin/env bash
# Records the vhost-user messages a real QEMU exchanges with the sample host, for the replay tests here.
# It reuses the guest that tools/real-guest provisions (its cache: sid's QEMU 11.1.3, the bookworm 6.1 kernel,
# an initramfs with busybox, v4l-utils and the virtio-media driver built for virtio id 45), runs the sample host
# of the checkout with --trace-vhost-user, and boots a guest whose plan loads the driver (device start, SHMEM_MAP
# and the memory table that follows), streams a few MMAP frames, unloads and reloads the driver (reset and
# restart), and powers off with the driver loaded (QEMU quitting with the device started); with
# QUIT=sigterm the guest sleeps instead and QEMU is ended by SIGTERM while the device runs.
#
# usage: [QUIT=sigterm] record-qemu.sh NAME [sample host options...]    writes NAME.trace next to this script
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
name=${1:?usage: record-qemu.sh NAME [host options...]}
shift
cache=${VIRTIO_MEDIA_GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtio-media-guest}
qemu=$(ls -d "$cache"/qemu-11.1.3*/qemu-system-x86_64 2>/dev/null | head -n 1)
kernel=$(ls "$cache"/kernel-*/root/boot/vmlinuz-* | head -n 1)
initrd=$(ls -t "$cache"/initrd-*.cpio | head -n 1)
[ -x "$qemu" ] && [ -f "$kernel" ] && [ -f "$initrd" ] || { echo "run tools/real-guest first to provision $cache" >&2; exit 2; }
busybox=$cache/userland/root/bin/busybox

work=$(mktemp -d /tmp/vhost-user-recording.XXXXXX)
dotnet build "$repo/samples/VirtioMedia.Samples.Host" -c Release -nologo -v quiet >"$work/build.log" 2>&1 || { tail "$work/build.log"; exit 1; }
cat >"$work/plan.sh" <<'PLAN'
load_driver allow_userptr=1 || return
step stream-mmap 120 v4l2-ctl -d /dev/video0 --stream-mmap=4 --stream-count=3 --stream-to=/dev/null
unload_driver
load_driver || return
step stream-mmap-again 120 v4l2-ctl -d /dev/video0 --stream-mmap=4 --stream-count=3 --stream-to=/dev/null
PLAN
quit=${QUIT:-poweroff}
[ "$quit" = sigterm ] && echo 'echo "@@sleeping"; sleep 600' >>"$work/plan.sh"
(cd "$work" && echo plan.sh | "$busybox" cpio -o -H newc 2>/dev/null) >"$work/plan.cpio"
cat "$initrd" "$work/plan.cpio" | gzip -1 >"$work/initrd.gz"

socket=$work/media.sock
dotnet "$repo/samples/VirtioMedia.Samples.Host/bin/Release/net10.0/VirtioMedia.Samples.Host.dll" --socket "$socket" \
  --trace-vhost-user --log-level Debug --exit-on-disconnect "$@" >"$work/host.out" 2>"$work/host.log" &
host=$!
for _ in $(seq 300); do [ -S "$socket" ] && break; sleep 0.1; done
timeout -k 10 240 "$qemu" -machine q35,accel=tcg -cpu max -smp 2 -m 1G \
  -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem \
  -chardev socket,id=media,path="$socket" \
  -device vhost-user-test-device-pci,chardev=media,virtio-id=45,num_vqs=2,config_size=40 \
  -kernel "$kernel" -initrd "$work/initrd.gz" -append 'console=ttyS0 panic=-1 loglevel=4' \
  -nographic -no-reboot -nodefaults -serial stdio </dev/null >"$work/console.log" 2>"$work/qemu.log" &
vmm=$!
if [ "$quit" = sigterm ]; then
  for _ in $(seq 1200); do grep -q '^@@sleeping' "$work/console.log" 2>/dev/null && break; kill -0 "$vmm" 2>/dev/null || break; sleep 0.1; done
  sleep 1
  kill -TERM "$vmm" # timeout passes the signal on to QEMU
fi
wait "$vmm"
echo "QEMU exit $?" >>"$work/qemu.log"
for _ in $(seq 100); do kill -0 "$host" 2>/dev/null || break; sleep 0.1; done
kill "$host" 2>/dev/null
{
  echo "# $(head -n 1 "$(dirname "$qemu")/version.txt"), vhost-user-test-device-pci virtio-id=45 num_vqs=2 config_size=40,"
  echo "# 1 GiB memory-backend-memfd share=on, Linux $(basename "$kernel" | sed 's/vmlinuz-//') guest; sample host options: ${*:-none}"
  echo "# guest plan: $(grep -v '^$' "$work/plan.sh" | tr '\n' ';')"
  if [ "$quit" = sigterm ]; then echo "# then QEMU ended by SIGTERM while the device runs."; else echo "# then poweroff -f with the driver loaded."; fi
  echo "# Lines starting with '# back-end:' are the host's own log, in order."
  sed -n -e 's/.*vhost-user trace: //p' -e 's/.*vhost-user: \(.*\)/# back-end: \1/p' "$work/host.log"
} >"$here/$name.trace"
echo "recorded $(grep -vc '^#' "$here/$name.trace") messages into $here/$name.trace (work files: $work)"
grep -a '^@@' "$work/console.log" | tr -d '\r' | grep -v '^@@begin dmesg' | head -30
tail -n 3 "$work/qemu.log"
