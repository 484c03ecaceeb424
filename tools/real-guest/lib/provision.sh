# Provisioning of everything the real-guest check boots, from Debian's package archive into a cache folder
# outside the checkout. Sourced by ../run; every step is skipped when its result is already in the cache, and
# each result is written to a temporary name and renamed, so an interrupted run leaves nothing half-made.
# Nothing here installs into or upgrades the machine's own system.

# provision_bookworm_packages DEST PACKAGE...: `apt-get download` through the machine's own (bookworm) lists
# and `dpkg -x` each package into DEST.
provision_bookworm_packages() {
  local dest=$1; shift
  [ -f "$dest/.complete" ] && return 0
  local work="$dest.partial"
  rm -rf "$work" && mkdir -p "$work/debs" "$work/root" || return 1
  (cd "$work/debs" && timeout 900 apt-get download -q "$@") >"$work/download.log" 2>&1 || {
    # The machine's lists may be missing or stale on a new machine.
    timeout 900 apt-get update -qq >/dev/null 2>&1
    (cd "$work/debs" && timeout 900 apt-get download -q "$@") >"$work/download.log" 2>&1 || { cat "$work/download.log" >&2; return 1; }
  }
  local deb
  for deb in "$work"/debs/*.deb; do
    dpkg -x "$deb" "$work/root" || return 1
  done
  rm -rf "$work/debs"
  touch "$work/.complete"
  rm -rf "$dest" && mv "$work" "$dest"
}

# provision_sid_qemu DEST VERSION: sid's qemu-system-x86 and its whole dependency closure (sid's glibc
# included), resolved by an apt state of its own (its own sources list, lists, cache and an empty dpkg status),
# downloaded and unpacked into DEST/root; DEST/qemu-system-x86_64 runs it through that folder's dynamic loader.
provision_sid_qemu() {
  local dest=$1 version=$2
  [ -f "$dest/.complete" ] && return 0
  local work="$dest.partial"
  rm -rf "$work" && mkdir -p "$work/apt/lists/partial" "$work/apt/archives/partial" "$work/apt/etc" "$work/root" || return 1
  : >"$work/apt/status"
  cat >"$work/apt/etc/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
EOF
  cat >"$work/apt/apt.conf" <<EOF
Dir::State "$work/apt";
Dir::State::Lists "$work/apt/lists";
Dir::State::status "$work/apt/status";
Dir::Cache "$work/apt";
Dir::Cache::archives "$work/apt/archives";
Dir::Etc::SourceList "$work/apt/etc/sources.list";
Dir::Etc::SourceParts "$work/apt/etc/none";
Dir::Etc::Preferences "$work/apt/etc/none";
Dir::Etc::PreferencesParts "$work/apt/etc/none";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Install-Recommends "false";
Debug::NoLocking "true";
EOF
  mkdir -p "$work/apt/etc/none"
  local -x APT_CONFIG="$work/apt/apt.conf"
  timeout 900 apt-get update -q >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; return 1; }
  timeout 900 apt-get install -y -q --download-only "qemu-system-x86=$version" >"$work/download.log" 2>&1 \
    || { tail -n 30 "$work/download.log" >&2; return 1; }
  local deb
  for deb in "$work"/apt/archives/*.deb; do
    dpkg -x "$deb" "$work/root" || return 1
  done
  local loader
  loader=$(cd "$work/root" && ls usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 2>/dev/null | head -n 1)
  [ -n "$loader" ] || { echo "sid's dynamic loader is not in the closure" >&2; return 1; }
  # The wrapper finds its folder at run time, so the cache may move.
  cat >"$work/qemu-system-x86_64" <<EOF
#!/bin/sh
root=\$(dirname "\$(readlink -f "\$0")")/root
exec "\$root/$loader" --library-path "\$root/usr/lib/x86_64-linux-gnu:\$root/lib/x86_64-linux-gnu" \\
  "\$root/usr/bin/qemu-system-x86_64" -L "\$root/usr/share/qemu" -L "\$root/usr/share/seabios" -L "\$root/usr/lib/ipxe/qemu" "\$@"
EOF
  chmod +x "$work/qemu-system-x86_64"
  rm -rf "$work/apt/archives" "$work/apt/lists"
  "$work/qemu-system-x86_64" --version >"$work/version.txt" 2>&1 || { cat "$work/version.txt" >&2; return 1; }
  touch "$work/.complete"
  rm -rf "$dest" && mv "$work" "$dest"
}
