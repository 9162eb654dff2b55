#!/usr/bin/env bash
# A one-node Ceph cluster with the RADOS Gateway (S3) on 127.0.0.1 (port 7480, or the next free
# one), for the S3 tests and the bench (recipe: ../shared/ceph-rgw.md). Needs root and Debian's
# ceph-mon ceph-osd radosgw ceph-common. The OSD keeps its objects in memory (memstore): nothing
# survives `stop`.
#
#   scripts/ceph.sh start    # idempotent: returns at once if our gateway already answers
#   scripts/ceph.sh stop
#   scripts/ceph.sh env      # the variables a client needs (eval "$(scripts/ceph.sh env)")
#
# Another cluster may be running on this machine where this script cannot see or stop its
# processes (another checkout, another pid namespace sharing the network: a CI run once failed so,
# its OSD registering with a foreign monitor on 6789 → 'wrong fsid'). So this script stops only
# the daemons whose pid files it wrote, takes the first free ports from the defaults up, and
# checks that the monitor it talks to has its own fsid.
set -euo pipefail

# One cluster per checkout: a CI clone never adopts a cluster that another checkout started (and
# may stop at any moment).
CHECKOUT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DIR=${RT_CEPH_DIR:-/tmp/rt-ceph-$(printf %s "$CHECKOUT" | md5sum | cut -c1-8)}
CONF=$DIR/ceph.conf
STATE=$DIR/endpoint
ACCESS_KEY=${RT_CEPH_ACCESS_KEY:-rtaccesskey}
SECRET_KEY=${RT_CEPH_SECRET_KEY:-rtsecretkey}
MEM_BYTES=${RT_CEPH_MEMSTORE_BYTES:-8589934592}

# The gateway's port: the one this script's last start recorded, else the default.
PORT=$(cat "$STATE" 2>/dev/null || echo "${RT_CEPH_PORT:-7480}")
ENDPOINT=http://127.0.0.1:$PORT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { local p=$1; while listening "$p"; do p=$((p + 1)); done; echo "$p"; }
answers() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/" 2>/dev/null | grep -q '^200$'; }
# Ours: our monitor answers with the fsid in our configuration, and a gateway answers on our port.
ours() {
  [[ -f $CONF && -f $STATE ]] || return 1
  local want; want=$(sed -n 's/^fsid = //p' "$CONF")
  [[ "$(timeout 10 ceph -c "$CONF" fsid 2>/dev/null)" == "$want" ]] && answers
}

start() {
  if ours; then echo "ceph: gateway already answers on $ENDPOINT"; return 0; fi
  for bin in ceph-mon ceph-osd radosgw ceph monmaptool ceph-authtool radosgw-admin; do
    command -v "$bin" >/dev/null || { echo "ceph: $bin missing: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common" >&2; exit 1; }
  done
  stop >/dev/null 2>&1 || true
  rm -rf "$DIR" && mkdir -p "$DIR"/{run,log,mon,osd}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  local mon_port; mon_port=$(free_port "${RT_CEPH_MON_PORT:-6789}")
  PORT=$(free_port "${RT_CEPH_PORT:-7480}")
  ENDPOINT=http://127.0.0.1:$PORT
  cat >"$CONF" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = $MEM_BYTES
run dir = $DIR/run
log file = $DIR/log/\$name.log
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
mon data = $DIR/mon/\$id
osd data = $DIR/osd/\$id
keyring = $DIR/keyring
ms bind ipv6 = false
mon data avail warn = 1
mon data avail crit = 0
[client.rgw]
# tcp_nodelay: without it a small GET waits ~40 ms (Nagle against the client's delayed ACK):
# measured here 48 → 6 ms per 1 KB GET, and the S3 backend reads its small state objects often.
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
# Deleted multipart objects are freed by RGW's garbage collector, by default hours later: with
# objects in memory that fills the OSD after a few 1 GiB bench runs. Collect within seconds.
rgw gc obj min wait = 5
rgw gc processor period = 10
rgw gc processor max time = 10
CONF
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --addv a "v1:127.0.0.1:$mon_port" --fsid "$fsid" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
  ceph-mon -c "$CONF" -i a
  local theirs; theirs=$(timeout 30 ceph -c "$CONF" fsid)
  [[ $theirs == "$fsid" ]] || { echo "ceph: the monitor on port $mon_port has fsid $theirs, not ours ($fsid): another cluster holds it" >&2; exit 1; }
  # A monitor that has just answered its fsid may still refuse commands for a moment ('EPERM:
  # problem getting command descriptions from mon', seen on a fresh machine): ask again.
  local id=''
  for _ in $(seq 1 30); do id=$(ceph -c "$CONF" osd create 2>/dev/null) && break; sleep 0.5; done
  [[ -n $id ]] || { echo "ceph: the monitor never accepted 'osd create'" >&2; exit 1; }
  mkdir -p "$DIR/osd/$id"
  ceph-osd -c "$CONF" -i "$id" --mkfs >"$DIR/log/mkfs.out" 2>&1 || { cat "$DIR/log/mkfs.out" >&2; exit 1; }
  ceph -c "$CONF" osd crush add "osd.$id" 1 root=default host=localhost >/dev/null 2>&1
  ceph-osd -c "$CONF" -i "$id"
  radosgw -c "$CONF" -n client.rgw
  echo "$PORT" >"$STATE"
  for _ in $(seq 1 120); do answers && break; sleep 0.5; done
  answers || { echo "ceph: the gateway did not answer on $ENDPOINT (logs: $DIR/log)" >&2; exit 1; }
  radosgw-admin -c "$CONF" user create --uid=rt --display-name=resumable-transfer \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
  echo "ceph: gateway on $ENDPOINT (data in memory; logs in $DIR/log)"
}

stop() {
  local pids=() f pid
  for f in "$DIR"/run/*.pid; do
    # Only a live process started with our configuration: a pid file written in another pid
    # namespace holds a number that means some other process here.
    [[ -f $f ]] && pid=$(cat "$f") && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "-c $CONF " && pids+=("$pid")
  done
  # And a daemon of ours without a pid file (a start that failed before it wrote one), visible
  # here and started with our configuration (whose path names this checkout).
  for pid in $(pgrep -f -- "-c $CONF " || true); do pids+=("$pid"); done
  if ((${#pids[@]})); then
    kill "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 40); do
      local alive=0; for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      ((alive)) || break; sleep 0.25
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
  fi
  rm -f "$STATE"
  echo "ceph: stopped"
}

env_vars() {
  echo "export S3_ENDPOINT=$ENDPOINT AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY AWS_REGION=us-east-1"
}

case "${1:-}" in
  # A cluster's start has failed once here without a trace we could reproduce (a monitor left
  # running, no gateway): the first failure is printed with its line, then one more try from clean.
  # One start at a time per checkout: test files run two at a time and each starts the cluster
  # when it finds none; two starts at once removed each other's folder and their OSDs met the
  # other's monitor ('wrong fsid', seen in a fresh clone's npm test). The second waits for the
  # lock, then finds the first one's gateway answering. -o: the daemons a start leaves running
  # must not inherit the lock (they would hold it for their life).
  start) flock -o "$DIR.lock" "${BASH_SOURCE[0]}" start-locked ;;
  start-locked) "${BASH_SOURCE[0]}" start-once || { echo "ceph: start failed; stopping what it left and trying once more" >&2; "${BASH_SOURCE[0]}" start-once; } ;;
  start-once)
    set -E # the ERR trap fires inside functions too
    trap 'echo "ceph: start failed at line $LINENO: $BASH_COMMAND (logs: $DIR/log)" >&2' ERR
    start ;;
  stop) stop ;;
  env) env_vars ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
