#!/usr/bin/env bash
# Copies the V4L2 UAPI headers and linux/errno.h, and every UAPI header they include, from an
# installed linux-libc-dev into a header set folder. The include closure is computed by gcc itself,
# hermetically (-nostdinc, the libc shim standing in for <sys/time.h>), so the set holds exactly what a
# parse reads.
#
#   abi-headers/refresh.sh abi-headers/linux-6.1 /usr/include /usr/include/x86_64-linux-gnu
#
# Arguments: the set's folder (emptied first), then the include folders of the installed package.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 SET_DIR INCLUDE_DIR [INCLUDE_DIR...]" >&2; exit 2; }
mkdir -p "$1"
dest=$(cd "$1" && pwd); shift
includes=()
for dir in "$@"; do includes+=(-I "$dir"); done

probe=$(mktemp --suffix=.c)
trap 'rm -f "$probe"' EXIT
# linux/errno.h: virtio_media.h takes the protocol's statuses (ENOTTY, EINVAL, ...) from it.
printf '#include <linux/videodev2.h>\n#include <linux/v4l2-common.h>\n#include <linux/v4l2-controls.h>\n#include <linux/errno.h>\n' > "$probe"

rm -rf "$dest"
gcc -M -nostdinc -I "$here/libc-shim" "${includes[@]}" "$probe" \
  | tr -d '\\' | tr ' ' '\n' | grep '\.h$' | grep -v "^$here/libc-shim/" | sort -u \
  | while read -r header; do
      # The longest include folder that holds the header gives its include path (asm/ lives in the
      # multiarch folder below /usr/include).
      relative=""
      for dir in "$@"; do
        case "$header" in
          "$dir"/*) candidate=${header#"$dir"/}
                    if [ -z "$relative" ] || [ ${#candidate} -lt ${#relative} ]; then relative=$candidate; fi ;;
        esac
      done
      [ -n "$relative" ] || { echo "header outside the include folders: $header" >&2; exit 1; }
      mkdir -p "$dest/$(dirname "$relative")"
      cp "$header" "$dest/$relative"
    done
echo "$(find "$dest" -name '*.h' | wc -l) headers in $dest"
