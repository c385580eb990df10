#!/usr/bin/env bash
# Build the ocireg container image offline from the build output: no base image, only the
# binary, the shared libraries it maps (and those it dlopens: libcurl, libpq), the dynamic
# loader, CA certificates, a passwd entry for the non-root user and an empty /data volume.
#
#   scripts/container-image.sh [--build DIR] [--out DIR] [--tag TAG]
#
# writes OUT/oci/ (an OCI image layout, tag TAG: `skopeo copy oci:OUT/oci:TAG docker://...`)
# and OUT/ocireg-image.tar (that layout as a tar with docker's manifest.json beside it:
# `docker load -i`, or `oci-archive:` for skopeo and podman). Defaults: build, build/image,
# the binary's version. Same inputs and SOURCE_DATE_EPOCH (default: the last commit's time),
# same digests.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build"
out=""
tag=""
uid=10001 # the image's user and group, "ocireg"

while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "container-image.sh: unexpected argument \"$1\" (see --help)" >&2; exit 2 ;;
  esac
done
out=${out:-$build/image}
bin="$build/ocireg"
[ -x "$bin" ] || { echo "container-image.sh: no $bin: build first (ninja -C $build)" >&2; exit 1; }
version=$("$bin" --version | awk '{print $2}')
tag=${tag:-$version}
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
  { echo "container-image.sh: invalid tag \"$tag\"" >&2; exit 2; }
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
case "$(uname -m)" in
  x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; armv7l) arch=arm ;; ppc64le) arch=ppc64le ;;
  s390x) arch=s390x ;; riscv64) arch=riscv64 ;; *) arch=$(uname -m) ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{etc/ssl/certs,tmp,data,usr/bin}
chmod 1777 "$root/tmp"
chmod 0755 "$root" "$root"/{etc,etc/ssl,etc/ssl/certs,data,usr,usr/bin}

# Merged /usr as on the host, so that every path ldd prints resolves the same way inside.
for d in bin sbin lib lib64; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$root/$d"; fi
done

# The libraries ocireg dlopens are named once, in storage/base/dynlib.c.
ondemand=$(grep -o '"lib[A-Za-z0-9_+-]*\.so\.[0-9]*"' "$src/storage/base/dynlib.c" | tr -d '"' |
           sort -u)
objects=("$bin")
for soname in $ondemand; do
  # awk reads to the end: leaving early would kill ldconfig with SIGPIPE (pipefail: exit 141)
  path=$(ldconfig -p | awk -v n="$soname" '$1 == n && $NF ~ /^\// && !p {p = $NF} END {print p}')
  if [ -n "$path" ]; then
    objects+=("$path")
  else
    echo "container-image.sh: warning: $soname not installed; the image goes without it" >&2
  fi
done

# Every object's libraries (ldd resolves the whole tree) and the loader, at the same paths;
# a static binary has none.
libs=$(for o in "${objects[@]}"; do
         { ldd "$o" 2>/dev/null || true; } |
           awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
       done | sort -u)
for lib in $libs "${objects[@]:1}"; do
  dest="$(readlink -f "$(dirname "$lib")")/$(basename "$lib")"
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$lib" "$root$dest"
  chmod 0755 "$root$dest"
done
install -m 0755 "$bin" "$root/usr/bin/ocireg"

if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
else
  echo "container-image.sh: warning: no /etc/ssl/certs/ca-certificates.crt (package" \
       "ca-certificates): the image cannot verify TLS peers" >&2
fi
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nocireg:x:%d:%d:ocireg:/data:/usr/sbin/nologin\n' \
  "$uid" "$uid" > "$root/etc/passwd"
printf 'root:x:0:\nocireg:x:%d:\n' "$uid" > "$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$root/etc/nsswitch.conf"
chmod 0644 "$root"/etc/{passwd,group,nsswitch.conf}

# One layer: everything root's but /data, which the user owns (a new volume inherits it).
reproducible=(--sort=name --format=gnu --numeric-owner "--mtime=@$epoch")
(cd "$root" && tar -cf "$work/layer.tar" "${reproducible[@]}" --owner=0 --group=0 \
   $(ls -A | grep -vx data))
(cd "$root" && tar -rf "$work/layer.tar" "${reproducible[@]}" --owner="$uid" --group="$uid" data)

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
layout="$work/oci"
mkdir -p "$layout/blobs/sha256"
diff_id=$(sha "$work/layer.tar")
gzip -n -9 < "$work/layer.tar" > "$work/layer.tar.gz"
layer=$(sha "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$layout/blobs/sha256/$layer"

# Docker's config fields (Healthcheck, StopSignal) beside the OCI ones; settings as OCIREG_*
# variables rather than flags, so that `docker run -e OCIREG_...` can change each of them.
second=1000000000
cat > "$work/config.json" <<EOF
{"architecture":"$arch","os":"linux","created":"$created",
"config":{"User":"$uid:$uid",
"Env":["PATH=/usr/bin","OCIREG_DATA=/data","OCIREG_LISTEN=0.0.0.0:5000"],
"Entrypoint":["/usr/bin/ocireg"],"Cmd":["serve"],"WorkingDir":"/data",
"ExposedPorts":{"5000/tcp":{}},"Volumes":{"/data":{}},"StopSignal":"SIGTERM",
"Healthcheck":{"Test":["CMD","/usr/bin/ocireg","health"],"Interval":$((30 * second)),
"Timeout":$((10 * second)),"StartPeriod":$((10 * second)),"Retries":3},
"Labels":{"org.opencontainers.image.title":"ocireg","org.opencontainers.image.version":"$version"}},
"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
"history":[{"created":"$created","created_by":"scripts/container-image.sh"}]}
EOF
config=$(sha "$work/config.json")
config_size=$(size "$work/config.json")
mv "$work/config.json" "$layout/blobs/sha256/$config"

cat > "$work/manifest" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$config_size},
"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer","size":$(size "$layout/blobs/sha256/$layer")}]}
EOF
manifest=$(sha "$work/manifest")
manifest_size=$(size "$work/manifest")
mv "$work/manifest" "$layout/blobs/sha256/$manifest"

printf '{"imageLayoutVersion":"1.0.0"}\n' > "$layout/oci-layout"
cat > "$layout/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$manifest_size,
"annotations":{"org.opencontainers.image.ref.name":"$tag"}}]}
EOF
# docker load (20.10 and later) reads manifest.json; OCI tools read the layout beside it.
printf '[{"Config":"blobs/sha256/%s","RepoTags":["ocireg:%s"],"Layers":["blobs/sha256/%s"]}]\n' \
  "$config" "$tag" "$layer" > "$work/manifest.json"
find "$layout" "$work/manifest.json" -exec chmod go-w,a+r {} +

mkdir -p "$out"
rm -rf "$out/oci"
(cd "$layout" && tar -cf "$work/image.tar" "${reproducible[@]}" --owner=0 --group=0 \
   oci-layout index.json blobs)
tar -rf "$work/image.tar" "${reproducible[@]}" --owner=0 --group=0 -C "$work" manifest.json
mv "$layout" "$out/oci"
mv "$work/image.tar" "$out/ocireg-image.tar"
echo "ocireg:$tag sha256:$manifest ($arch, layer $(size "$out/oci/blobs/sha256/$layer") bytes)"
echo "  $out/oci (OCI layout)  $out/ocireg-image.tar (docker load -i)"
