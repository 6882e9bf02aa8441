#!/usr/bin/env bash
# A single-node SLURM on this machine, for the tests of `--executor slurm` (tests/test_slurm.py).
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge when missing (apt-get, as root),
# writes a minimal slurm.conf (this host as controller and only node, 2 CPUs, one partition
# `debug`, no cgroups, no accounting), starts munged, slurmctld and slurmd, and waits until
# `sinfo` shows the node idle. Idempotent: when `sinfo` already answers with an idle node it
# does nothing (a few seconds), and it never overwrites a slurm.conf it did not write.
# Cost in CI: about a minute the first time (apt-get update + ~40 MB of packages), seconds after.
#
# Exits non-zero with one line on stderr when SLURM cannot be started; the same line goes to
# $PATCHSWAP_SLURM_STATUS (default /tmp/patchswap-slurm/status), where the tests read why
# they skip. "ok" there means the node is up.
set -uo pipefail

STATE=${PATCHSWAP_SLURM_DIR:-/tmp/patchswap-slurm}
STATUS=${PATCHSWAP_SLURM_STATUS:-$STATE/status}
CONF=/etc/slurm/slurm.conf
MARK="# written by patchswap scripts/start_slurm.sh"
mkdir -p "$STATE" "$(dirname "$STATUS")"

fail() {
  echo "start_slurm: $*" | tee "$STATUS" >&2
  exit 1
}

node_idle() {
  # true when the partition answers and this node can take jobs
  sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'
}

if command -v sinfo >/dev/null 2>&1 && node_idle; then
  echo ok >"$STATUS"
  echo "start_slurm: already up: $(sinfo -h -o '%P %D %t' | head -1)"
  exit 0
fi

# --- packages --------------------------------------------------------------------------------
missing=()
for pair in slurmctld:slurmctld slurmd:slurmd sinfo:slurm-client munged:munge; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] \
    || missing+=("${pair##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "needs root to install ${missing[*]} (or install them yourself)"
  command -v apt-get >/dev/null 2>&1 || fail "no apt-get to install ${missing[*]}"
  echo "start_slurm: installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$STATE/apt.log" 2>&1 || fail "apt-get update failed; see $STATE/apt.log"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$STATE/apt.log" 2>&1 \
    || fail "apt-get install ${missing[*]} failed; see $STATE/apt.log"
fi
export PATH="$PATH:/usr/sbin:/sbin"

# --- configuration ---------------------------------------------------------------------------
host=$(hostname -s)
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  fail "$CONF exists and is not ours, yet sinfo shows no idle node; start that cluster instead"
fi
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat >"$CONF" <<EOF
$MARK
ClusterName=patchswap
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# --- daemons ---------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
chmod 755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged >>"$STATE/munged.log" 2>&1 \
      || fail "munged did not start: $(tail -1 "$STATE/munged.log")"
  else
    munged --force >>"$STATE/munged.log" 2>&1 \
      || fail "munged did not start: $(tail -1 "$STATE/munged.log")"
  fi
  sleep 0.5
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || fail "munge does not authenticate"
fi
pgrep -x slurmctld >/dev/null || slurmctld >>"$STATE/slurmctld.out" 2>&1 \
  || fail "slurmctld did not start: $(tail -1 /var/log/slurm/slurmctld.log 2>/dev/null)"
pgrep -x slurmd >/dev/null || slurmd >>"$STATE/slurmd.out" 2>&1 \
  || fail "slurmd did not start: $(tail -1 /var/log/slurm/slurmd.log 2>/dev/null)"

for _ in $(seq 60); do
  if node_idle; then
    echo ok >"$STATUS"
    echo "start_slurm: up: $(sinfo -h -o '%P %D %t' | head -1)"
    exit 0
  fi
  # a node left down or drained by an earlier run of this script: return it to service
  scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
  sleep 1
done
fail "the node did not become idle in 60 s: sinfo says '$(sinfo -h -o '%t %E' 2>&1 | head -1)';" \
  "see /var/log/slurm/slurmctld.log and slurmd.log"
