#!/usr/bin/env bash
# A one-node Ceph cluster with the RADOS Gateway (S3) on 127.0.0.1 (a free port picked at random,
# printed by `env`), for the S3 tests and the bench (recipe: ../shared/ceph-rgw.md). Needs root and Debian's
# ceph-mon ceph-osd radosgw ceph-common. The OSD keeps its objects in memory (memstore): nothing
# survives `stop`.
#
#   scripts/ceph.sh start    # idempotent: returns at once if our gateway already answers
#   scripts/ceph.sh stop
#   scripts/ceph.sh env      # the variables a client needs (eval "$(scripts/ceph.sh env)")
#   scripts/ceph.sh report   # which daemons run, and every death the watcher saw (CI prints it)
#
# A watcher runs beside the daemons: a gateway or monitor that dies is started again as it was; an
# OSD that dies (its objects were in memory) or a gateway that does not list our buckets for one
# to four minutes brings a clean restart on the same ports with the same keys, so the clients'
# settings stay true. Each event goes to $DIR.watch.log with the daemons' last log lines, and
# `report` prints it: a CI run whose S3 tests all failed at once (stop 25) left no trace of why.
#
# Another cluster may be running on this machine where this script cannot see or stop its
# processes (another checkout, another pid namespace sharing the network: CI runs failed so twice,
# our OSD's commands answered 'wrong fsid' by a monitor that was not ours). So this script stops
# only the daemons whose pid files it wrote; takes its ports at random from ranges no default
# Ceph port is in (the monitor's, the OSD's messenger window, the gateway's), never the defaults
# (6789, 6800-7300, 7480) that every other recipe uses; makes a fresh pair of S3 keys per start;
# and counts a start done only when its monitor answers with its fsid and its gateway takes its
# keys. A start that fails is retried from clean with new ports, up to three times.
set -euo pipefail

# One cluster per checkout: a CI clone never adopts a cluster that another checkout started (and
# may stop at any moment).
CHECKOUT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# In memory (/dev/shm) where there is one: the monitor's database fsyncs every commit, and on the
# disk the tests fill with gigabytes of uploads (and fsync) those commits waited behind them; a
# disk that fills up (a CI machine had 287 MB free once) would stop the monitor. It holds ~40 MB.
# Only a roomy one: a container's /dev/shm may be 64 MB, and a full one would stop the monitor.
SHM=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && (($(df --output=avail -BM /dev/shm 2>/dev/null | tail -n 1 | tr -dc 0-9) >= 1024)) && SHM=/dev/shm
DIR=${RT_CEPH_DIR:-$SHM/rt-ceph-$(printf %s "$CHECKOUT" | md5sum | cut -c1-8)}
CONF=$DIR/ceph.conf
STATE=$DIR/endpoint
KEYS=$DIR/keys
# Beside $DIR, not in it: a clean restart removes $DIR, and the record must outlive it.
WATCH_LOG=$DIR.watch.log
WATCH_PID=$DIR.watch.pid
WATCH_BUCKETS=$DIR.buckets.xml
# The S3 keys: given, else the pair this script's last start made (random per start, so that a
# gateway that is not ours cannot take them), else placeholders until a start makes some.
read -r ACCESS_KEY SECRET_KEY 2>/dev/null <"$KEYS" || true
ACCESS_KEY=${RT_CEPH_ACCESS_KEY:-${ACCESS_KEY:-rtaccesskey}}
SECRET_KEY=${RT_CEPH_SECRET_KEY:-${SECRET_KEY:-rtsecretkey}}
MEM_BYTES=${RT_CEPH_MEMSTORE_BYTES:-8589934592}

# The gateway's port: the one this script's last start recorded, else the default.
PORT=$(cat "$STATE" 2>/dev/null || echo "${RT_CEPH_PORT:-7480}")
ENDPOINT=http://127.0.0.1:$PORT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A port nobody listens on: $1 if given (an RT_CEPH_*_PORT), else one at random in [$2, $2+$3),
# checked for $4 ports in a row (the OSD binds several in its window).
free_port() {
  local want=$1 lo=$2 span=$3 n=${4:-1} p i
  # The watcher's restart keeps the port its clients were given: it waits for the old daemon to
  # let go of it, and fails rather than move.
  if [[ -n ${RT_CEPH_WATCHER:-} && -n $want ]]; then
    for _ in $(seq 1 60); do listening "$want" || { echo "$want"; return 0; }; sleep 0.5; done
    return 1
  fi
  for _ in $(seq 1 200); do
    p=${want:-$((lo + (RANDOM * 32768 + RANDOM) % span))}
    for ((i = 0; i < n; i++)); do listening $((p + i)) && break; done
    ((i == n)) && { echo "$p"; return 0; }
    [[ -n $want ]] && want=$((want + 1))
  done
  return 1
}
# retry N COMMAND...: runs COMMAND until it succeeds, N times at most, a second apart.
retry() {
  local n=$1 i; shift
  for ((i = 1; ; i++)); do
    "$@" && return 0
    ((i < n)) || return 1
    echo "ceph: '$1' failed (try $i of $n); trying again" >&2
    sleep 1
  done
}
answers() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/" 2>/dev/null | grep -q '^200$'; }
# Our gateway: it takes our keys (a signed ListBuckets answers 200; another gateway answers 403).
# RGW needs the payload's hash header, which curl's --aws-sigv4 signs but does not add.
signed_curl() {
  curl -s --aws-sigv4 aws:amz:us-east-1:s3 -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    --user "$ACCESS_KEY:$SECRET_KEY" "$@"
}
# $1: where to keep the answer (the bucket list), else nowhere.
takes_our_keys() {
  signed_curl -o "${1:-/dev/null}" -m 5 -w '%{http_code}' "$ENDPOINT/" 2>/dev/null | grep -q '^200$'
}
# Makes (empty) the buckets named in a ListBuckets answer kept by takes_our_keys.
make_buckets() {
  local name
  for name in $(grep -o '<Name>[^<]*</Name>' "$1" 2>/dev/null | sed 's/<[^>]*>//g'); do
    signed_curl -o /dev/null -m 10 -X PUT "$ENDPOINT/$name" && echo "ceph watch: bucket $name made again (empty)"
  done
  return 0
}
# wait_ours N: ours within N checks, 5 s apart.
wait_ours() {
  local i
  for ((i = 0; i < $1; i++)); do sleep 5; ours && return 0; done
  return 1
}
# Ours: our monitor answers with the fsid in our configuration, and the gateway on our port takes
# our keys.
ours() {
  [[ -f $CONF && -f $STATE ]] || return 1
  local want; want=$(sed -n 's/^fsid = //p' "$CONF")
  [[ "$(timeout 10 ceph -c "$CONF" fsid 2>/dev/null)" == "$want" ]] && takes_our_keys
}

start() {
  if [[ -z ${RT_CEPH_WATCHER:-} ]]; then
    if ours; then echo "ceph: gateway already answers on $ENDPOINT"; return 0; fi
    # Our daemons run but did not answer in time: under load (the tests call start once per file,
    # two files at a time) `ceph fsid` or a ListBuckets can be slow, and starting again from clean
    # moves the gateway to new ports under the test files using it (ECONNREFUSED, seen in a fresh
    # clone's npm test). A minute to answer first. (A cluster whose watcher runs was waited for
    # before the lock: see `start)` below.)
    if [[ -f $STATE ]] && daemons_run; then
      if wait_ours 12; then echo "ceph: gateway answers on $ENDPOINT (slowly)"; return 0; fi
      echo "ceph: our daemons run but did not answer for a minute; starting again from clean" >&2
    fi
  fi
  for bin in ceph-mon ceph-osd radosgw ceph monmaptool ceph-authtool radosgw-admin; do
    command -v "$bin" >/dev/null || { echo "ceph: $bin missing: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common" >&2; exit 1; }
  done
  stop >/dev/null 2>&1 || true
  rm -rf "$DIR" && mkdir -p "$DIR"/{run,log,mon,osd}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  # Ranges: below Linux's ephemeral ports (32768 up), away from Ceph's defaults.
  local mon_port; mon_port=$(free_port "${RT_CEPH_MON_PORT:-}" 20000 4000)
  local osd_ports; osd_ports=$(free_port '' 24000 4000 32)
  PORT=$(free_port "${RT_CEPH_PORT:-}" 28000 4000)
  ENDPOINT=http://127.0.0.1:$PORT
  if [[ -z ${RT_CEPH_ACCESS_KEY:-} ]]; then
    ACCESS_KEY=rt$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')
    SECRET_KEY=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  fi
  echo "$ACCESS_KEY $SECRET_KEY" >"$KEYS"
  echo "$mon_port" >"$DIR/mon-port"
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
[osd]
# The OSD's messenger ports: a window of our own, not the shared default 6800-7300.
ms bind port min = $osd_ports
ms bind port max = $((osd_ports + 31))
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
  # Ceph's clients race the monitor under load: with auth none a command can leave before the
  # client has the monitor's map, carrying a zero fsid, and the monitor refuses it ('wrong fsid',
  # EPERM; its log says 'handle_command on fsid 00000000-… != …'). Seen from `ceph fsid` and from
  # the OSD's first command at boot, which then exits (a CI run failed so). So every step that
  # talks to the monitor is tried again.
  local theirs; theirs=$(retry 20 timeout 15 ceph -c "$CONF" fsid 2>/dev/null) || true
  [[ $theirs == "$fsid" ]] || { echo "ceph: the monitor on port $mon_port has fsid '$theirs', not ours ($fsid): another cluster holds it, or ours never answered" >&2; exit 1; }
  local id; id=$(retry 30 ceph -c "$CONF" osd create 2>/dev/null) || true
  [[ -n $id ]] || { echo "ceph: the monitor never accepted 'osd create'" >&2; exit 1; }
  mkdir -p "$DIR/osd/$id"
  retry 5 ceph-osd -c "$CONF" -i "$id" --mkfs >"$DIR/log/mkfs.out" 2>&1 || { cat "$DIR/log/mkfs.out" >&2; exit 1; }
  retry 10 ceph -c "$CONF" osd crush add "osd.$id" 1 root=default host=localhost >/dev/null 2>&1
  retry 5 ceph-osd -c "$CONF" -i "$id"
  radosgw -c "$CONF" -n client.rgw
  echo "$PORT" >"$STATE"
  for _ in $(seq 1 120); do answers && break; sleep 0.5; done
  answers || { echo "ceph: the gateway did not answer on $ENDPOINT (logs: $DIR/log)" >&2; exit 1; }
  retry 10 radosgw-admin -c "$CONF" user create --uid=rt --display-name=resumable-transfer \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
  for _ in $(seq 1 20); do takes_our_keys && break; sleep 0.5; done
  ours || { echo "ceph: the gateway on $ENDPOINT does not take our keys, or our monitor lost its fsid: not ours" >&2; exit 1; }
  echo "ceph: gateway on $ENDPOINT (data in memory; logs in $DIR/log)"
}

# The last lines of each daemon's log, for a record of why something failed.
last_words() {
  local f; for f in "$DIR"/log/*.log; do [[ -s $f ]] && { echo "--- ${f##*/}"; tail -n "${1:-12}" "$f"; }; done
  return 0
}

# runs_as PIDFILE TEXT: the process named in PIDFILE lives and its command line holds TEXT (a pid
# file written in another pid namespace names some other process here).
runs_as() {
  local pid; pid=$(cat "$1" 2>/dev/null) || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$2"
}
# alive NAME: the daemon whose pid file is $DIR/run/NAME.pid runs, started with our configuration.
alive() { runs_as "$DIR/run/$1.pid" "-c $CONF "; }
watcher_runs() { runs_as "$WATCH_PID" "ceph.sh watch"; }
# Our OSD's name, by its folder: a daemon that exits removes its own pid file.
osd_name() { local id; id=$(ls "$DIR/osd" 2>/dev/null | head -n 1); [[ -n $id ]] && echo "osd.$id"; }

# Our monitor, OSD and gateway all run.
daemons_run() {
  local osd; osd=$(osd_name) && alive "$osd" && alive mon.a && alive client.rgw
}

# The watcher (see the top of this file). Runs until `stop` or until our state is gone.
watch_loop() {
  set +e # a failed check is an answer here, not the end of the watcher
  echo $$ >"$WATCH_PID"
  local misses=0 osd last='' repeats=0
  # An event with the daemons' last words; the same event again only as a count, every 30th time
  # (a monitor that cannot start would otherwise write 80 lines every 2 s).
  note() {
    if [[ $1 == "$last" ]]; then
      repeats=$((repeats + 1))
      ((repeats % 30 == 0)) && echo "$(date -u +%FT%TZ) (the same, $repeats times since)"
      return 0
    fi
    last=$1; repeats=0
    echo "$(date -u +%FT%TZ) $1"; last_words 20; echo
  }
  while [[ -f $STATE && $(cat "$WATCH_PID" 2>/dev/null) == "$$" ]]; do
    sleep 2
    [[ -f $STATE ]] || break
    osd=$(osd_name)
    if [[ -n $osd ]] && ! alive "$osd"; then
      note "ceph watch: $osd died (its objects with it); a clean restart on port $PORT"
      restart_clean; misses=0; continue
    fi
    if ! alive mon.a; then
      note "ceph watch: the monitor died; started again"
      ceph-mon -c "$CONF" -i a || sleep 10
    fi
    if ! alive client.rgw; then
      note "ceph watch: the gateway died; started again"
      radosgw -c "$CONF" -n client.rgw || sleep 10
      for _ in $(seq 1 60); do answers && break; sleep 0.5; done
      misses=0; continue
    fi
    # A signed ListBuckets: it reads the user's buckets from the OSD, where an anonymous GET / is
    # answered by the gateway alone (a gateway whose storage hangs still answers that).
    # Its answer is kept: a clean restart makes the same buckets again, so that a server which made
    # its bucket at its start finds one (its objects are gone: its clients' uploads start over).
    if takes_our_keys "$WATCH_BUCKETS.new"; then
      mv -f "$WATCH_BUCKETS.new" "$WATCH_BUCKETS"; misses=0; last=''; continue
    fi
    misses=$((misses + 1))
    if ((misses >= 30)); then
      note "ceph watch: the gateway did not list our buckets in 30 checks in a row (1 to 4 minutes); a clean restart"
      restart_clean; misses=0
    fi
  done
}

# A clean start on the same gateway and monitor ports with the same keys, as the watcher does it;
# under the start lock, so that it never meets a `start` of someone else in the same folder.
restart_clean() {
  local mon_port; mon_port=$(cat "$DIR/mon-port" 2>/dev/null || true)
  local try
  for try in 1 2 3; do
    [[ $(cat "$WATCH_PID" 2>/dev/null) == "$$" ]] || return 0 # stopped meanwhile
    if flock -o "$DIR.lock" env RT_CEPH_WATCHER=1 RT_CEPH_PORT="$PORT" RT_CEPH_MON_PORT="$mon_port" \
      RT_CEPH_ACCESS_KEY="$ACCESS_KEY" RT_CEPH_SECRET_KEY="$SECRET_KEY" \
      "${BASH_SOURCE[0]}" start-once 2>&1; then
      echo "ceph watch: restarted"
      make_buckets "$WATCH_BUCKETS"
      return 0
    fi
    echo "ceph watch: restart $try failed"
    sleep 5
  done
}

report() {
  set +e
  local name
  echo "ceph report ($DIR):"
  for name in mon.a client.rgw $(osd_name); do
    if alive "$name"; then echo "  $name runs"; else echo "  $name DOES NOT RUN"; fi
  done
  if answers; then echo "  the gateway answers on $ENDPOINT"; else echo "  the gateway on $ENDPOINT DOES NOT ANSWER"; fi
  if grep -qv 'ceph watch: started$' "$WATCH_LOG" 2>/dev/null; then echo "  what the watcher saw (its last 300 lines):"; tail -n 300 "$WATCH_LOG"; else echo "  the watcher saw no death"; fi
  if ! alive client.rgw || ! answers; then last_words 40; fi
  # The machine's side: memory left, and whether the kernel killed anything for memory.
  free -m | sed 's/^/  /'
  dmesg 2>/dev/null | grep -iE 'out of memory|oom-kill|killed process' | tail -n 5 | sed 's/^/  /'
  return 0
}

stop() {
  local pids=() f pid
  # The watcher first, or it would start again what this stops (not when it is the watcher's own
  # clean restart that stops the old daemons).
  if [[ -z ${RT_CEPH_WATCHER:-} && -f $WATCH_PID ]]; then
    pid=$(cat "$WATCH_PID" 2>/dev/null || true)
    # Its whole process group (setsid made it the leader): a restart it is running goes with it.
    watcher_runs && { kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; }
    rm -f "$WATCH_PID"
  fi
  for f in "$DIR"/run/*.pid; do
    # Only a live process started with our configuration: a pid file written in another pid
    # namespace holds a number that means some other process here.
    runs_as "$f" "-c $CONF " && pids+=("$(cat "$f")")
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
  # A failed start prints its line and the daemons' last log lines, then tries again from clean
  # with new ports (three tries in all).
  # One start at a time per checkout: test files run two at a time and each starts the cluster
  # when it finds none; two starts at once removed each other's folder and their OSDs met the
  # other's monitor ('wrong fsid', seen in a fresh clone's npm test). The second waits for the
  # lock, then finds the first one's gateway answering. -o: the daemons a start leaves running
  # must not inherit the lock (they would hold it for their life).
  # A cluster whose watcher runs is waited for, up to 5 minutes, outside the lock (the watcher
  # takes the lock to mend it, on the same port, when it hangs or dies).
  start)
    if [[ -f $STATE ]] && watcher_runs; then
      if ours || wait_ours 60; then echo "ceph: gateway answers on $ENDPOINT"; exit 0; fi
      echo "ceph: our cluster did not answer for 5 minutes; starting again from clean" >&2
    fi
    flock -o "$DIR.lock" "${BASH_SOURCE[0]}" start-locked ;;
  start-locked)
    for try in 1 2 3; do
      if "${BASH_SOURCE[0]}" start-once; then
        # The watcher, detached: its output goes to its log (a caller that reads our stderr must
        # not wait for it), and the lock is not inherited (flock -o).
        if ! watcher_runs; then
          echo "$(date -u +%FT%TZ) ceph watch: started" >>"$WATCH_LOG"
          setsid nohup "${BASH_SOURCE[0]}" watch >>"$WATCH_LOG" 2>&1 </dev/null &
        fi
        exit 0
      fi
      ((try < 3)) && echo "ceph: start $try failed; stopping what it left and trying again with new ports" >&2
    done
    exit 1 ;;
  start-once)
    set -E # the ERR trap fires inside functions too
    # The line that failed, and the daemons' last words: what the next one to read a CI log needs.
    trap 'echo "ceph: start failed at line $LINENO: $BASH_COMMAND (logs: $DIR/log)" >&2
      for f in "$DIR"/log/*.log; do [[ -f $f ]] && { echo "--- ${f##*/}" >&2; tail -n 12 "$f" >&2; }; done' ERR
    start ;;
  stop) stop ;;
  env) env_vars ;;
  watch) watch_loop ;;
  report) report ;;
  *) echo "usage: $0 start|stop|env|report" >&2; exit 2 ;;
esac
