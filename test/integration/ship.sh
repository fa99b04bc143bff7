#!/usr/bin/env bash
# ship.sh - what mdo ships as: `cmake --install`'s tree, the .deb (installed into a fresh root
# by dpkg, run there in a container, purged: no leftovers), the subscriber's systemd unit
# (systemd-analyze verify; its stop timeout against the subscriber's measured shutdown), the
# `mdo` image of docker/build (the subscriber in a container against etcd on the bridge), and
# ops/etcd-cluster run for real on loopback (3 members, each healthy, torn down).
#
#   MDO_BUILD=/work/main/build bash test/integration/ship.sh
. "$(dirname "$0")/lib.sh"

[ -x "$MDO" ] || { echo "ship: no mdo binary at $MDO: build it first (or set MDO_BUILD)" >&2; exit 1; }
# what ships is the release build: a sanitizer build's package would need its runtime in the
# fresh root, and the packaging steps do not change with the build type
if grep -q '^CMAKE_BUILD_TYPE:STRING=Asan' "$BUILD/CMakeCache.txt" 2>/dev/null; then
    t_skip 1 "ship: packaging is tested on the release build, not on $(basename "$BUILD")"
    t_done
    exit 0
fi
ensure_dockerd || exit 1
IMAGES=() # every image this test makes, removed on exit
CLEANUP+=('[ ${#IMAGES[@]} = 0 ] || docker rmi -f "${IMAGES[@]}"')

# --- cmake --install ---------------------------------------------------------------------------
inst=$TMP/inst
t_run "cmake --install" 0 env DESTDIR="$inst" cmake --install "$BUILD" --prefix /usr
applets=$("$MDO" guest --list)
t_eq "bin/: mdo is the binary" "$(cmp "$inst/usr/bin/mdo" "$MDO" && echo same)" same
want_bin=$(echo "$applets" | grep -vx watch)
t_eq "bin/: every applet but watch (procps owns /usr/bin/watch) links to mdo" \
    "$(for a in $want_bin; do echo "$a $(readlink "$inst/usr/bin/$a")"; done)" "$(for a in $want_bin; do echo "$a mdo"; done)"
t_eq "bin/watch is not installed" "$(ls "$inst/usr/bin/watch" 2>/dev/null)" ""
t_eq "lib/mdo/bin/: all 12 applets resolve to bin/mdo" \
    "$(for a in $applets; do readlink -f "$inst/usr/lib/mdo/bin/$a"; done | sort -u)" "$inst/usr/bin/mdo"
t_run "lib/mdo/bin/watch runs the watch applet" 0 "$inst/usr/lib/mdo/bin/watch" --help
t_match "lib/mdo/bin/watch --help" "$OUT" "^usage: watch"
# one page per command of `mdo help` (not help/version) and per applet
cmds=$("$MDO" help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z]*\) .*/\1/p' | grep -vxE 'help|version')
want_man=$( (echo mdo; for c in $cmds; do echo "mdo-$c"; done; for a in $applets; do
    [ "$a" = watch ] && echo mdo-guest-watch || echo "$a"; done) | sort)
t_eq "man1/: a page for mdo, each command and each applet" \
    "$(ls "$inst/usr/share/man/man1" | sed 's/\.1\.gz$//' | sort)" "$want_man"
bad=
for p in "$inst"/usr/share/man/man1/*.1.gz; do
    w=$(zcat "$p" | groff -man -Tutf8 -ww -z 2>&1) || bad+=" $p"
    [ -z "$w" ] || bad+=" $(basename "$p"):$w"
done
t_eq "every page formats without a groff warning" "$bad" ""
# one source: the page's text is the --help text
page=$(zcat "$inst/usr/share/man/man1/get_port.1.gz" | groff -man -Tascii -P-cbou 2>/dev/null | tr -s ' \n' ' ')
first=$("$MDO" guest get_port --help | sed -n 3p | tr -s ' ' ' ')
t_match "get_port.1 carries the --help text" "$page" "${first:0:40}"
unit=$inst/usr/lib/systemd/system/mdo-subscribe.service
t_eq "the unit's ExecStart is the installed binary" "$(grep ^ExecStart= "$unit")" \
    "ExecStart=/usr/bin/mdo subscribe -c /etc/mdo/mdo.yaml"
t_eq "guestutils.py in share/mdo/" "$(cmp "$inst/usr/share/mdo/guestutils.py" "$TOP/guest/guestutils.py" && echo same)" same

# --- the subscriber's unit ---------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    # verify checks that ExecStart exists: the copy names this build's binary
    sed "s|^ExecStart=/usr/bin/mdo|ExecStart=$MDO|" "$unit" >"$TMP/mdo-subscribe.service"
    t_run "systemd-analyze verify mdo-subscribe.service" 0 systemd-analyze verify "$TMP/mdo-subscribe.service"
    t_eq "systemd-analyze verify: no warning" "$OUT$ERR" ""
else
    t_skip 2 "systemd-analyze is not installed"
fi
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$TOP/ops/mdo-subscribe.service")
t_match "TimeoutStopSec is a number of seconds" "$stop_s" '^[0-9]+$'
t_eq "TimeoutStopSec (${stop_s:-?} s) is longer than the 5 s shutdown bound" "$([ "${stop_s:-0}" -gt 5 ] && echo yes)" yes
start_etcd || exit 1
SPORT=$(free_port)
cat >"$TMP/sub.yaml" <<YAML
environment: $MDO_TEST_ENV
etcd:
  endpoints: ["$ETCD"]
subscriber:
  listen: "127.0.0.1:$SPORT"
services:
  web: {image: none, instances: 0}
YAML
export MDO_CONFIG=$TMP/sub.yaml
if start_subscriber; then
    t0=$(date +%s%N)
    stop_subscriber
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    t_eq "subscriber exits 0 on SIGTERM" "$rc" 0
    echo "# figure: subscriber shutdown on SIGTERM: $ms ms (unit allows ${stop_s:-?} s)"
    t_eq "the shutdown (${ms} ms) fits in 5 s" "$([ "$ms" -lt 5000 ] && echo yes)" yes
fi
SUB_PID=

# --- the .deb: dpkg into a fresh root, run there, purge --------------------------------------
(cd "$BUILD" && rm -f mdo_*.deb && cpack -G DEB >"$TMP/cpack.log" 2>&1)
deb=$(ls "$BUILD"/mdo_*_*.deb 2>/dev/null | head -1)
t_match "cpack builds the .deb" "$deb" 'mdo_[0-9.]+_[a-z0-9]+\.deb$'
[ -n "$deb" ] || { tail "$TMP/cpack.log"; t_done; exit; }
echo "# figure: .deb size: $(stat -c %s "$deb") bytes"
t_match "Depends from the shared libraries (dpkg-shlibdeps)" "$(dpkg-deb -f "$deb" Depends)" 'libc6 .*libcurl4'
# The root: dpkg's database, the libraries ldd names, and the dpkg records of the packages that
# own them (so mdo's Depends must be met by exactly those; no --force-depends).
R=$TMP/root
mkdir -p "$R"/var/lib/dpkg/{info,updates,triggers} "$R"/var/log "$R"/tmp "$R"/etc
: >"$R/var/lib/dpkg/available"
libs=$(ldd "$MDO" | awk '/=>/ {print $3} !/=>/ && $1 ~ /^\// {print $1}')
pkgs=$(for l in $libs; do dpkg -S "$(readlink -f "$l")" 2>/dev/null || dpkg -S "$l"; done | cut -d: -f1 | sort -u)
for p in $pkgs; do dpkg-query -s "$p"; echo; done >"$R/var/lib/dpkg/status"
for l in $libs; do
    mkdir -p "$R$(dirname "$l")"
    cp -L "$l" "$R$l"
done
echo 'mdo:x:1000:1000::/tmp:/nonexistent' >"$R/etc/passwd"
(cd "$R" && find . | sort) >"$TMP/before"
t_run "dpkg -i into a fresh root (Depends met by the libraries' packages)" 0 \
    dpkg --root="$R" --log="$R/var/log/dpkg.log" -i "$deb"
t_eq "dpkg: mdo is installed" "$(dpkg --root="$R" -s mdo 2>/dev/null | sed -n 's/^Status: //p')" "install ok installed"
img=mdo-ship-root:$MDO_TEST_ENV
if tar -C "$R" -c . | docker import - "$img" >/dev/null; then
    IMAGES+=("$img")
    t_run "mdo version in the root" 0 docker run --rm --network none -u 1000 "$img" /usr/bin/mdo version
    t_match "mdo version output" "$OUT" '^mdo [0-9]+\.[0-9]+\.[0-9]+$'
    t_run "get_port --help in the root" 0 docker run --rm --network none -u 1000 "$img" /usr/bin/get_port --help
    t_match "get_port --help output" "$OUT" '^usage: get_port'
    docker run --rm --network none -u 1000 -v "$TOP/examples:/ex:ro" "$img" /usr/bin/mdo validate -c /ex/quickstart.yaml >"$TMP/v.out" 2>&1
    t_eq "mdo validate -c quickstart.yaml in the root" "$?:$(cat "$TMP/v.out")" "0:ok"
else
    t_fail "docker import of the root"
fi
t_run "dpkg --purge mdo" 0 dpkg --root="$R" --log="$R/var/log/dpkg.log" --purge mdo
# what is new after the purge, besides dpkg's own records
left=$( (cd "$R" && find . | sort) | comm -13 "$TMP/before" - |
    grep -vE '^\./var/lib/dpkg/(info/format|lock|lock-frontend|status-old|triggers/(Lock|Unincorp))$|^\./var/log/dpkg\.log$')
t_eq "purge leaves nothing behind" "$left" ""
t_eq "nothing of the root is gone" "$( (cd "$R" && find . | sort) | comm -23 "$TMP/before" -)" ""

# --- the mdo image (docker/build): the subscriber in a container, and the layer to copy --------
stop_etcd
CLEANUP+=('docker rm -f "$MDO_TEST_ENV-subscriber"')
mimg=mdo-ship:$MDO_TEST_ENV
t_run "docker/build" 0 "$TOP/docker/build" --tag "$mimg" --binary "$MDO"
IMAGES+=("$mimg")
echo "# figure: mdo image size: $(docker image inspect -f '{{.Size}}' "$mimg" 2>/dev/null) bytes"
t_eq "image: user, entrypoint, health check" \
    "$(docker image inspect -f '{{.Config.User}} {{json .Config.Entrypoint}} {{index .Config.Healthcheck.Test 0}}' "$mimg")" \
    'mdo ["mdo","subscribe"] CMD'
t_run "image: mdo version" 0 docker run --rm --network none --entrypoint mdo "$mimg" version
t_eq "image: the applets are links to mdo" "$(docker run --rm --network none --entrypoint /bin/sh "$mimg" -c \
    'for a in $(mdo guest --list); do readlink /usr/bin/$a; done | sort -u')" mdo
t_match "image: CA certificates" "$(docker run --rm --network none --entrypoint /bin/sh "$mimg" -c \
    'grep -c "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt')" '^[1-9][0-9]+$'
# the subscriber container against etcd on the bridge; the registry on the gateway address
build_test_image || t_fail "cannot build the test image"
start_etcd || exit 1
GW=$(bridge_gateway)
cat >"$TMP/ctr.yaml" <<YAML
environment: $MDO_TEST_ENV
etcd:
  endpoints: ["$ETCD_GW"]
subscriber:
  listen: "0.0.0.0:5000"
  token: "t-$MDO_TEST_ENV" # off loopback a token is required
  resync: 5
docker:
  pull: never
  host_address: "$GW"
services:
  web:
    image: $TEST_IMAGE
    ports:
      http: 8080
    instances: 1
    args: [sh, -c, 'exec httpd -f -p 8080 -h /tmp']
YAML
chmod 644 "$TMP/ctr.yaml"
t_run "the subscriber container starts" 0 docker run -d --name "$MDO_TEST_ENV-subscriber" \
    --label "mdo.test=$MDO_TEST_ENV" -v "$TMP/ctr.yaml:/etc/mdo/mdo.yaml:ro" \
    -v /var/run/docker.sock:/var/run/docker.sock --group-add "$(stat -c %g /var/run/docker.sock)" \
    --health-interval 1s --health-start-period 1s "$mimg"
sip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$MDO_TEST_ENV-subscriber" 2>/dev/null)
wait_eq 20 "the subscriber container: /health answers 200" \
    "curl -s -o /dev/null -w '%{http_code}' http://$sip:5000/health" 200
wait_eq 20 "the subscriber container: docker reports it healthy" \
    "docker inspect -f '{{.State.Health.Status}}' $MDO_TEST_ENV-subscriber" healthy
t_eq "the subscriber runs as mdo, not root" "$(docker exec "$MDO_TEST_ENV-subscriber" /bin/busybox id -un)" mdo
t_run "mdo launch web (host) with the containerised subscriber" 0 env MDO_CONFIG="$TMP/ctr.yaml" mdo launch web --wait
wait_eq 20 "the subscriber container registered the instance" "reg_count web" 1
port=$(docker port "$MDO_TEST_ENV-web-1" 8080/tcp 2>/dev/null | head -1 | sed 's/.*://')
t_eq "the record: gateway host, published port" \
    "$(ectl get --print-value-only "/mdo/$MDO_TEST_ENV/services/web/instances/$MDO_TEST_ENV-web-1" | jq -r '"\(.host):\(.ports.http.external)"')" \
    "$GW:$port"
docker logs "$MDO_TEST_ENV-subscriber" >"$TMP/ctr.log" 2>&1
t_eq "no error lines in the subscriber container's log" "$(grep -c 'level=error' "$TMP/ctr.log")" 0
t_run "the subscriber container stops on SIGTERM within 10 s" 0 docker stop -t 10 "$MDO_TEST_ENV-subscriber"
t_eq "... and exits 0" "$(docker inspect -f '{{.State.ExitCode}}' "$MDO_TEST_ENV-subscriber")" 0
# the layer: a service image copies mdo from the image (docker/Dockerfile.service)
simg=mdo-ship-svc:$MDO_TEST_ENV
t_run "Dockerfile.service: COPY --from the mdo image" 0 env DOCKER_BUILDKIT=0 docker build -q -t "$simg" \
    --build-arg MDO_IMAGE="$mimg" --build-arg BASE="$TEST_IMAGE" -f "$TOP/docker/Dockerfile.service" "$TOP/docker"
IMAGES+=("$simg")
t_run "the service image: get_port from the copied mdo" 0 docker run --rm --network none -e MDO_PORT_HTTP=8080 \
    "$simg" /usr/bin/get_port http
t_eq "the service image: get_port output" "$OUT" 8080

# --- ops/: shellcheck, the units, the 3-member etcd cluster on loopback ------------------------
stop_etcd
if command -v shellcheck >/dev/null; then
    t_run "ops/ scripts are shellcheck-clean" 0 sh -c "cd '$TOP' && shellcheck -x -P SCRIPTDIR ops/etcd-cluster ops/setup-* ops/lib.sh ops/install-deps tools/manpages docker/build"
else
    t_skip 1 "shellcheck is not installed"
fi
if command -v systemd-analyze >/dev/null; then
    # Mesos, Marathon and ZooKeeper are not installed here: their ExecStart becomes /bin/true,
    # the rest of each unit is verified as written
    mkdir -p "$TMP/units"
    for u in "$TOP"/ops/units/*.service; do
        sed -E 's|^ExecStart=/usr/(sbin/mesos-[a-z]+\|share/zookeeper/bin/zkServer.sh)( .*)?$|ExecStart=/bin/true|' "$u" >"$TMP/units/${u##*/}"
        t_run "systemd-analyze verify ${u##*/}" 0 systemd-analyze verify "$TMP/units/${u##*/}"
        t_eq "systemd-analyze verify ${u##*/}: no warning" "$OUT$ERR" ""
    done
else
    t_skip 10 "systemd-analyze is not installed"
fi
# six ports in a row (base+1 .. base+6), none in use: tried from a few free ports
ports_free() { local p; for p in $(seq $(($1 + 1)) $(($1 + 6))); do
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 1; done; return 0; }
for _ in 1 2 3 4 5; do base=$(free_port); ports_free "$base" && break; done
ec=$TMP/etcd-cluster
CLEANUP+=("'$TOP/ops/etcd-cluster' local-stop '$ec'")
t_run "ops/etcd-cluster local: 3 members on loopback" 0 "$TOP/ops/etcd-cluster" local "$ec" "$base"
eps=$OUT
t_eq "it prints the 3 client endpoints" "$(tr ',' '\n' <<<"$eps" | grep -c '^http://127.0.0.1:[0-9]*$')" 3
wait_eq 30 "3 started members" "etcdctl --endpoints '$eps' member list | grep -c ', started, m[123], '" 3
for e in ${eps//,/ }; do
    wait_for 20 etcdctl --endpoints "$e" endpoint health && t_pass "member $e is healthy"
done
ctl3() { etcdctl --endpoints "$eps" "$@"; }
ctl3 put /mdo/ship/probe yes >/dev/null
t_eq "a write through one member is read from another" \
    "$(etcdctl --endpoints "${eps##*,}" get --print-value-only /mdo/ship/probe)" yes
pids=$(cat "$ec"/m?.pid)
t_run "ops/etcd-cluster local again (idempotent: nothing restarted)" 0 "$TOP/ops/etcd-cluster" local "$ec" "$base"
t_eq "the same 3 processes" "$(cat "$ec"/m?.pid)" "$pids"
t_run "ops/etcd-cluster local-stop" 0 "$TOP/ops/etcd-cluster" local-stop "$ec"
alive=
for p in $pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
t_eq "torn down: no member left running" "$alive" ""
t_eq "torn down: its directory is gone" "$(ls -d "$ec" 2>/dev/null)" ""

t_done
