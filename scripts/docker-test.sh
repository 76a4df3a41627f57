#!/usr/bin/env bash
# Builds the sync-server image with podman and checks it end to end on this machine (no registry):
#   scripts/docker-test.sh [--ref GITREF] [--keep]
#
#   --ref GITREF  build the sources of a git revision (e.g. HEAD) instead of the working tree; the
#                 Dockerfile, .dockerignore and scripts/healthcheck.js still come from the working
#                 tree, node_modules from the host (hard-linked). Useful while src/ is being edited.
#   --keep        keep the test image (localhost/sync-server:test) afterwards.
#
# Environment: DOCKER_TEST_DIR (scratch dir holding podman's storage and config; default
# /var/tmp/sync-server-docker-test; the locally made base image is cached there between runs),
# BASE_VARIANT=fast|debootstrap (how to make the base image if it is missing; default fast).
#
# Needs root (rootful podman) and the host's node_modules (`npm ci` first). Podman settings that work
# in a CI VM without CAP_SYS_RESOURCE and with hybrid cgroups: runtime runc (crun refuses hybrid
# cgroups), lowered ulimits (raising them is denied), host network, cgroupfs.
# Ends with "docker-test: N passed, N failed" and exits non-zero if anything failed. Do not run two
# at once with the same DOCKER_TEST_DIR (they share the image tag and prune dangling images).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${DOCKER_TEST_DIR:-/var/tmp/sync-server-docker-test}"
BASE_IMAGE="docker.io/library/node:20-bookworm-slim"
IMAGE="localhost/sync-server:test"
BASE_VARIANT="${BASE_VARIANT:-fast}"
REF=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --ref) REF="${2:?--ref needs a git revision}"; shift 2 ;;
    --ref=*) REF="${1#--ref=}"; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "docker-test: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

T_START=$(date +%s.%N)
PASSED=0
FAILED=0
RESULTS=()
TIMINGS=()
CONTAINERS=()
VOLUME=""
CTX=""
SUFFIX="$$-$(date +%s)"

log() { printf '== %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); RESULTS+=("PASS  $1"); printf 'PASS  %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); RESULTS+=("FAIL  $1"); printf 'FAIL  %s\n' "$1" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
timing() { TIMINGS+=("$(printf '%-28s %6ss' "$1" "$2")"); }

summary() {
  echo
  echo "================ docker-test summary ================"
  local r t
  for r in "${RESULTS[@]}"; do echo "$r"; done
  echo "---- timings"
  for t in "${TIMINGS[@]}"; do echo "$t"; done
  printf '%-28s %6ss\n' "total" "$(elapsed "$T_START")"
  if [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]; then echo "RESULT: PASS"; else echo "RESULT: FAIL"; fi
  echo "docker-test: $PASSED passed, $FAILED failed"
}

cleanup() {
  local rc=$? c
  set +e
  if [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ]; then fail "script stopped with exit code $rc"; fi
  for c in "${CONTAINERS[@]}"; do podman rm -f -v -t 0 "$c" >/dev/null 2>&1; done
  [ -n "$VOLUME" ] && podman volume rm -f "$VOLUME" >/dev/null 2>&1
  if [ "$KEEP" -eq 0 ] && command -v podman >/dev/null; then
    podman rmi -f "$IMAGE" >/dev/null 2>&1
    podman image prune -f >/dev/null 2>&1 # the build's dangling intermediate images; the base stays
  fi
  [ -n "$CTX" ] && rm -rf "$CTX"
  summary
  if [ "$FAILED" -gt 0 ] || [ "$PASSED" -eq 0 ]; then exit 1; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops the test right away (the summary still prints).
abort() { fail "$1"; exit 1; }

# ---------------------------------------------------------------------------- 1. tools
t=$(now)
if [ "$(id -u)" -ne 0 ]; then abort "needs root (rootful podman); run with sudo"; fi
missing=()
for tool in podman buildah runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ -x /bin/busybox ] || missing+=(busybox-static)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  apt-get install -y -qq podman buildah runc debootstrap busybox-static >/dev/null || abort "apt-get install podman buildah runc debootstrap busybox-static"
fi
[ -d "$ROOT/node_modules" ] || abort "no node_modules in $ROOT: run 'npm ci' first (the image build copies them)"
timing "tools" "$(elapsed "$t")"

# ---------------------------------------------------------------------------- 2. podman config
mkdir -p "$WORK/tmp" "$WORK/ctr/root" "$WORK/ctr/run"
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "host"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$WORK/ctr/run/libpod"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/ctr/root"
runroot = "$WORK/ctr/run"
EOF
export CONTAINERS_CONF="$WORK/containers.conf" CONTAINERS_STORAGE_CONF="$WORK/storage.conf" TMPDIR="$WORK/tmp"
log "podman $(podman version --format '{{.Client.Version}}'), storage in $WORK"

# ---------------------------------------------------------------------------- 3. base image
make_base_fast() {
  # node + npm + the libraries node links against + busybox (as /bin/sh and the usual applets),
  # and the users of the official image (root, node 1000:1000, nobody).
  local r="$WORK/base-rootfs" lib node npmdir
  node="$(readlink -f "$(command -v node)")"
  npmdir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  rm -rf "$r"
  mkdir -p "$r"/{bin,sbin,etc,root,home/node,usr/bin,usr/sbin,usr/local/bin,usr/local/lib/node_modules,tmp,var/tmp}
  chmod 1777 "$r/tmp" "$r/var/tmp"
  chmod 700 "$r/root"
  cp "$node" "$r/usr/local/bin/node"
  for lib in $(ldd "$node" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    cp -L --parents "$lib" "$r/"
  done
  cp -a "$npmdir" "$r/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  cp /bin/busybox "$r/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list-full); do
    [ -e "$r/$applet" ] || [ -L "$r/$applet" ] || ln -s /bin/busybox "$r/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'node:x:1000:1000::/home/node:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$r/etc/passwd"
  printf '%s\n' 'root:x:0:' 'node:x:1000:' 'nogroup:x:65534:' >"$r/etc/group"
  chown 1000:1000 "$r/home/node"
  tar -C "$r" --numeric-owner -cf "$WORK/base.tar" .
  rm -rf "$r"
}
make_base_debootstrap() {
  local r="$WORK/base-rootfs" node npmdir
  node="$(readlink -f "$(command -v node)")"
  npmdir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  rm -rf "$r"
  debootstrap --variant=minbase bookworm "$r" http://deb.debian.org/debian >/dev/null
  cp "$node" "$r/usr/local/bin/node"
  mkdir -p "$r/usr/local/lib/node_modules"
  cp -a "$npmdir" "$r/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  # the official image's user (minbase may lack useradd, so edit the files directly)
  echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$r/etc/passwd"
  echo 'node:x:1000:' >>"$r/etc/group"
  echo 'node:*:20000:0:99999:7:::' >>"$r/etc/shadow"
  mkdir -p "$r/home/node" && chown 1000:1000 "$r/home/node"
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
  tar -C "$r" --numeric-owner -cf "$WORK/base.tar" .
  rm -rf "$r"
}
t=$(now)
if podman image exists "$BASE_IMAGE"; then
  log "base image $BASE_IMAGE: cached"
else
  log "making the base image $BASE_IMAGE locally ($BASE_VARIANT; no registry is reachable)"
  case "$BASE_VARIANT" in
    fast) make_base_fast ;;
    debootstrap) make_base_debootstrap ;;
    *) abort "BASE_VARIANT must be fast or debootstrap" ;;
  esac
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    --change "LABEL org.opencontainers.image.description=local-stand-in-for-node:20-bookworm-slim-($BASE_VARIANT)" \
    "$WORK/base.tar" "$BASE_IMAGE" >/dev/null || abort "podman import of the base image"
  rm -f "$WORK/base.tar"
fi
podman run --rm "$BASE_IMAGE" node --version >/dev/null || abort "base image runs node"
timing "base image" "$(elapsed "$t")"

# ---------------------------------------------------------------------------- 4. build
t=$(now)
if [ -n "$REF" ]; then
  CTX="$WORK/ctx-$SUFFIX"
  mkdir -p "$CTX"
  git -C "$ROOT" archive "$REF" | tar -x -C "$CTX" || abort "git archive $REF"
  mkdir -p "$CTX/scripts"
  cp "$ROOT/Dockerfile" "$ROOT/.dockerignore" "$CTX/"
  cp "$ROOT/scripts/healthcheck.js" "$CTX/scripts/"
  cp -al "$ROOT/node_modules" "$CTX/node_modules" 2>/dev/null || cp -a "$ROOT/node_modules" "$CTX/node_modules"
  context="$CTX"
  log "building $IMAGE from git $REF ($(git -C "$ROOT" rev-parse --short "$REF"))"
else
  context="$ROOT"
  log "building $IMAGE from the working tree"
fi
# --format docker: the OCI format has no HEALTHCHECK (podman would drop it with a warning).
# --layers=false: no per-step cache images (the test deletes the image anyway; saves ~5 s).
if podman build --pull=never --network none --format docker --layers=false -t "$IMAGE" -f "$context/Dockerfile" "$context"; then
  pass "image builds offline (podman build --pull=never --network none)"
else
  abort "image builds offline (podman build --pull=never --network none)"
fi
timing "image build" "$(elapsed "$t")"
log "image size: $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
if [ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = "node" ] &&
   podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q healthcheck.js; then
  pass "image config: USER node, HEALTHCHECK scripts/healthcheck.js"
else
  fail "image config: USER node, HEALTHCHECK scripts/healthcheck.js"
fi

# ---------------------------------------------------------------------------- 5. run
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
GRPC_PORT=$(free_port)
METRICS_PORT=$(free_port)
while [ "$METRICS_PORT" = "$GRPC_PORT" ]; do METRICS_PORT=$(free_port); done
VOLUME="sync-server-test-$SUFFIX"
podman volume create "$VOLUME" >/dev/null
ADDR="http://127.0.0.1:$GRPC_PORT"

# `npx buf curl`, minus npx's start-up cost when the binary is where npm ci puts it.
BUF=(npx --no-install buf)
[ -x "$ROOT/node_modules/.bin/buf" ] && BUF=("$ROOT/node_modules/.bin/buf")
buf_curl() { (cd "$ROOT" && "${BUF[@]}" curl --protocol grpc --http2-prior-knowledge "$@"); }
# Prints upperBound of GetSyncTarget (the op count), or nothing.
op_count() {
  buf_curl "$ADDR/commonware.sync.v1.SyncService/GetSyncTarget" 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const t=JSON.parse(s).target;if(t&&t.upperBound!==undefined)console.log(t.upperBound)}catch{}})' || true
}
# Without systemd, podman cannot schedule the periodic HEALTHCHECK timer and says so on every
# run/stop ("unable to get systemd connection ..."); the test runs the check itself with
# `podman healthcheck run`, so those lines are filtered out.
quiet_podman() {
  local err
  if ! err=$(podman "$@" 2>&1 >/dev/null); then echo "$err" >&2; return 1; fi
  grep -v 'systemd connection' <<<"$err" >&2 || true
}
start_container() { # name [volume-args...] -- [server flags...]
  local name=$1; shift
  local vol=()
  while [ "$1" != "--" ]; do vol+=("$1"); shift; done
  shift
  CONTAINERS+=("$name")
  quiet_podman run -d --name "$name" --network host "${vol[@]}" "$IMAGE" \
    --port "$GRPC_PORT" --metrics-port "$METRICS_PORT" "$@"
}
# Waits until the image's HEALTHCHECK reports healthy. Prints the seconds it took.
wait_healthy() { # name
  local t0 i state
  t0=$(now)
  for i in $(seq 1 120); do
    state=$(podman inspect --format '{{.State.Status}}' "$1" 2>/dev/null || echo gone)
    if [ "$state" != "running" ]; then
      echo "container $1 is $state; its log:" >&2
      podman logs "$1" >&2 || true
      return 1
    fi
    if podman healthcheck run "$1" >/dev/null 2>&1; then elapsed "$t0"; return 0; fi
    sleep 0.5
  done
  echo "container $1 not healthy after 60 s; its log:" >&2
  podman logs "$1" >&2 || true
  return 1
}
# podman stop (SIGTERM) and prints the exit code.
stop_container() { # name
  quiet_podman stop -t 20 "$1"
  podman inspect --format '{{.State.ExitCode}}' "$1"
}

t=$(now)
CTR1="sync-server-test-$SUFFIX-1"
log "running $CTR1 (gRPC 127.0.0.1:$GRPC_PORT, metrics :$METRICS_PORT, volume $VOLUME)"
start_container "$CTR1" -v "$VOLUME:/data" -- || abort "podman run $IMAGE"
if secs=$(wait_healthy "$CTR1"); then
  pass "HEALTHCHECK healthy after ${secs}s (podman healthcheck run)"
  timing "start -> healthy" "$secs"
else
  abort "HEALTHCHECK healthy within 60 s"
fi
health_state=$(podman inspect --format '{{.State.Health.Status}}' "$CTR1" 2>/dev/null || echo "?")
log "podman inspect .State.Health.Status: $health_state"
if out=$(podman exec -e HEALTH_PORT="$GRPC_PORT" "$CTR1" node scripts/healthcheck.js 2>&1) && [[ "$out" == *SERVING* ]] &&
   ! podman exec -e HEALTH_PORT=1 -e HEALTH_TIMEOUT_MS=1000 "$CTR1" node scripts/healthcheck.js >/dev/null 2>&1; then
  pass "healthcheck.js: exit 0 on SERVING ($out), non-zero when nothing listens"
else
  fail "healthcheck.js: exit 0 on SERVING, non-zero when nothing listens ($out)"
fi
uid=$(podman exec "$CTR1" node -e 'console.log(process.getuid())' 2>&1 || true)
if [ "$uid" = "1000" ]; then pass "server runs as non-root (uid 1000, user node)"; else fail "server runs as non-root (uid: $uid)"; fi

# ---------------------------------------------------------------------------- 6. from the host
target=$(buf_curl "$ADDR/commonware.sync.v1.SyncService/GetSyncTarget" 2>&1 || true)
if [[ "$target" == *upperBound* && "$target" == *root* ]]; then
  pass "buf curl GetSyncTarget from the host (reflection): $(echo "$target" | tr -d ' \n')"
else
  fail "buf curl GetSyncTarget from the host: $target"
fi
services=$(buf_curl --list-services "$ADDR" 2>&1 || true)
if [[ "$services" == *commonware.sync.v1.SyncService* && "$services" == *grpc.health.v1.Health* ]]; then
  pass "reflection lists commonware.sync.v1.SyncService and grpc.health.v1.Health"
else
  fail "reflection lists the services: $services"
fi
health=$(buf_curl -d '{"service":""}' "$ADDR/grpc.health.v1.Health/Check" 2>&1 || true)
if [[ "$health" == *SERVING* && "$health" != *NOT_SERVING* ]]; then pass "grpc.health.v1.Health/Check(\"\") = SERVING from the host"; else fail "Health/Check from the host: $health"; fi
metrics=$(curl -fsS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" 2>&1 || true)
if grep -q '^server_committed_operations ' <<<"$metrics" && grep -q '^process_cpu_seconds_total' <<<"$metrics"; then
  pass "metrics scrape: $(grep '^server_committed_operations ' <<<"$metrics")"
else
  fail "metrics scrape on :$METRICS_PORT/metrics: $(head -c 300 <<<"$metrics")"
fi

# ---------------------------------------------------------------------------- 7. SIGTERM, restart
sleep 2 # let the workload append a few batches
before=$(op_count)
t=$(now)
code=$(stop_container "$CTR1" || echo "?")
timing "podman stop (SIGTERM)" "$(elapsed "$t")"
logs1=$(podman logs "$CTR1" 2>&1 || true)
last_logged=$( (grep '"added operations' <<<"$logs1" || true) | tail -1 | sed -n 's/.*"op_count":"\([0-9]*\)".*/\1/p')
if [ "$code" = "0" ] && grep -q '"database closed; bye"' <<<"$logs1"; then
  pass "podman stop (SIGTERM) -> graceful shutdown, exit code 0"
else
  fail "podman stop (SIGTERM) -> exit code $code (want 0); last log lines: $(tail -3 <<<"$logs1")"
fi
log "op count before stop: $before (last logged: ${last_logged:-?})"

CTR2="sync-server-test-$SUFFIX-2"
start_container "$CTR2" -v "$VOLUME:/data" -- || abort "podman run $IMAGE (restart on the same volume)"
wait_healthy "$CTR2" >/dev/null || abort "restarted container healthy"
after=$(op_count)
ready=$( (podman logs "$CTR2" 2>&1 | grep '"database ready"' || true) | head -1 | sed -n 's/.*"op_count":"\([0-9]*\)".*/\1/p')
floor=${before:-0}
if [ -n "$last_logged" ] && [ "$last_logged" -gt "$floor" ]; then floor=$last_logged; fi
if [ -n "$before" ] && [ -n "$ready" ] && [ -n "$after" ] && [ "$ready" -ge "$floor" ] && [ "$after" -ge "$ready" ]; then
  pass "restart on the same volume keeps the data: op count $floor before stop, $ready at reopen, $after now"
else
  fail "restart on the same volume: op count before=${before:-?} last_logged=${last_logged:-?} at-reopen=${ready:-?} now=${after:-?}"
fi
code=$(stop_container "$CTR2" || echo "?")
if [ "$code" = "0" ]; then pass "second container stops with exit code 0"; else fail "second container exit code $code (want 0)"; fi

# ---------------------------------------------------------------------------- 8. extra flags append
# `podman run IMAGE --db immutable` appends to the ENTRYPOINT's flags (anonymous /data volume).
CTR3="sync-server-test-$SUFFIX-3"
start_container "$CTR3" -- --db immutable || abort "podman run $IMAGE --db immutable"
wait_healthy "$CTR3" >/dev/null || abort "immutable container healthy"
kind=$(buf_curl "$ADDR/commonware.sync.v1.SyncService/GetSyncTarget" 2>&1 || true)
code=$(stop_container "$CTR3" || echo "?")
if [[ "$kind" == *DATABASE_KIND_IMMUTABLE* ]] && [ "$code" = "0" ]; then
  pass "extra args append to the ENTRYPOINT (--db immutable -> DATABASE_KIND_IMMUTABLE, exit 0)"
else
  fail "extra args append (--db immutable): $kind; exit code $code"
fi
