#!/usr/bin/env bash
# A one-node Ceph cluster with the RADOS Gateway (S3) on 127.0.0.1:7480, for the S3 tests and the
# bench (recipe: ../shared/ceph-rgw.md). Needs root and Debian's ceph-mon ceph-osd radosgw
# ceph-common. The OSD keeps its objects in memory (memstore): nothing survives `stop`.
#
#   scripts/ceph.sh start    # idempotent: returns at once if the gateway already answers
#   scripts/ceph.sh stop
#   scripts/ceph.sh env      # the variables a client needs (eval "$(scripts/ceph.sh env)")
set -euo pipefail

DIR=${RT_CEPH_DIR:-/tmp/rt-ceph}
CONF=$DIR/ceph.conf
PORT=${RT_CEPH_PORT:-7480}
ENDPOINT=http://127.0.0.1:$PORT
ACCESS_KEY=${RT_CEPH_ACCESS_KEY:-rtaccesskey}
SECRET_KEY=${RT_CEPH_SECRET_KEY:-rtsecretkey}
MEM_BYTES=${RT_CEPH_MEMSTORE_BYTES:-8589934592}

answers() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/" 2>/dev/null | grep -q '^200$'; }

start() {
  if answers; then echo "ceph: gateway already answers on $ENDPOINT"; return 0; fi
  for bin in ceph-mon ceph-osd radosgw ceph monmaptool ceph-authtool radosgw-admin; do
    command -v "$bin" >/dev/null || { echo "ceph: $bin missing: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common" >&2; exit 1; }
  done
  stop >/dev/null 2>&1 || true
  rm -rf "$DIR" && mkdir -p "$DIR"/{run,log,mon,osd}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$CONF" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:6789
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
mon data = $DIR/mon/\$id
osd data = $DIR/osd/\$id
keyring = $DIR/keyring
ms bind ipv6 = false
mon data avail warn = 1
mon data avail crit = 0
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT
# Deleted multipart objects are freed by RGW's garbage collector, by default hours later: with
# objects in memory that fills the OSD after a few 1 GiB bench runs. Collect within seconds.
rgw gc obj min wait = 5
rgw gc processor period = 10
rgw gc processor max time = 10
CONF
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --addv a v1:127.0.0.1:6789 --fsid "$fsid" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
  ceph-mon -c "$CONF" -i a
  local id; id=$(ceph -c "$CONF" osd create)
  mkdir -p "$DIR/osd/$id"
  ceph-osd -c "$CONF" -i "$id" --mkfs >/dev/null 2>&1
  ceph -c "$CONF" osd crush add "osd.$id" 1 root=default host=localhost >/dev/null 2>&1
  ceph-osd -c "$CONF" -i "$id"
  radosgw -c "$CONF" -n client.rgw
  for _ in $(seq 1 120); do answers && break; sleep 0.5; done
  answers || { echo "ceph: the gateway did not answer on $ENDPOINT (logs: $DIR/log)" >&2; exit 1; }
  radosgw-admin -c "$CONF" user create --uid=rt --display-name=resumable-transfer \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null 2>&1 || true
  echo "ceph: gateway on $ENDPOINT (data in memory; logs in $DIR/log)"
}

stop() {
  for bin in radosgw ceph-osd ceph-mon; do pkill -x "$bin" 2>/dev/null || true; done
  for _ in $(seq 1 40); do pgrep -x radosgw >/dev/null || pgrep -x ceph-osd >/dev/null || pgrep -x ceph-mon >/dev/null || break; sleep 0.25; done
  for bin in radosgw ceph-osd ceph-mon; do pkill -9 -x "$bin" 2>/dev/null || true; done
  echo "ceph: stopped"
}

env_vars() {
  echo "export S3_ENDPOINT=$ENDPOINT AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY AWS_REGION=us-east-1"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_vars ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
