#!/usr/bin/env bash
# Install, configure and start a real single-host Slurm controller for the
# brownout tests (@pytest.mark.slurm). Debian 12 (Slurm 22.05), run as root.
#
# Idempotent: packages are installed only when missing, the configuration is
# rewritten only when it changed, daemons are started only when not running.
#
# Cluster: NODES_REAL nodes (n0001..) with a real `slurmd -N <name>` each,
# plus slurmd-less nodes up to NODES_TOTAL (they show as DOWN*/not responding,
# which is enough to drain, resume and read them back). Every node line has
# NodeAddr=127.0.0.1 (without it slurmctld stalls on a DNS lookup per node) and
# Gres=gpu:h100:8 backed by gres.conf File= symlinks to /dev/null.
set -euo pipefail

NODES_REAL="${BROWNOUT_SLURM_REAL_NODES:-4}"
NODES_TOTAL="${BROWNOUT_SLURM_NODES:-104}"
CLUSTER="${BROWNOUT_SLURM_CLUSTER:-brownout}"
ETC=/etc/slurm
BASE_PORT=17001

log() { echo "slurm-setup: $*" >&2; }

install_packages() {
    local missing=()
    for cmd in slurmctld slurmd scontrol munged; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    log "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

name() { printf 'n%04d' "$1"; }

write_if_changed() {  # path: content on stdin; prints "changed" when rewritten
    local path="$1" tmp
    tmp="$(mktemp)"
    cat >"$tmp"
    if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
        return 0
    fi
    install -m 0644 "$tmp" "$path"
    rm -f "$tmp"
    echo changed
}

slurm_conf() {
    local last_real last
    last_real="$(name "$NODES_REAL")"
    last="$(name "$NODES_TOTAL")"
    cat <<CONF
# written by .ci/slurm/setup.sh (brownout tests)
ClusterName=${CLUSTER}
SlurmctldHost=localhost
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
GresTypes=gpu
ReturnToService=1
SlurmctldPort=6817
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd-%n.pid
SlurmdSpoolDir=/var/spool/slurm/slurmd-%n
StateSaveLocation=/var/spool/slurm/ctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
SlurmdTimeout=300
MessageTimeout=10
NodeName=n[0001-${last_real#n}] NodeAddr=127.0.0.1 Port=[${BASE_PORT}-$((BASE_PORT + NODES_REAL - 1))] CPUs=1 RealMemory=100 Gres=gpu:h100:8 State=UNKNOWN
NodeName=n[$(name $((NODES_REAL + 1)) | tr -d n)-${last#n}] NodeAddr=127.0.0.1 CPUs=1 RealMemory=100 Gres=gpu:h100:8 State=UNKNOWN
PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

gres_conf() {
    echo "# written by .ci/slurm/setup.sh: fake GPU devices (symlinks to /dev/null)"
    echo "NodeName=n[0001-$(name "$NODES_TOTAL" | tr -d n)] Name=gpu Type=h100 File=/dev/brownout-gpu[0-7]"
}

configure() {
    mkdir -p "$ETC" /run/slurm /var/spool/slurm/ctld /var/log/slurm /run/munge
    for i in 0 1 2 3 4 5 6 7; do
        ln -sfn /dev/null "/dev/brownout-gpu$i"
    done
    local changed=""
    changed+="$(slurm_conf | write_if_changed "$ETC/slurm.conf")"
    changed+="$(gres_conf | write_if_changed "$ETC/gres.conf")"
    echo "$changed"
}

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key /run/munge 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key
    log "starting munged"
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
    else
        /usr/sbin/munged --force
    fi
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    log "munged did not come up"; exit 1
}

ctld_running() { [ -f /run/slurm/slurmctld.pid ] && kill -0 "$(cat /run/slurm/slurmctld.pid)" 2>/dev/null; }

start_slurmctld() {
    local changed="$1"
    if ctld_running; then
        if [ -n "$changed" ]; then
            log "configuration changed: restarting slurmctld"
            kill "$(cat /run/slurm/slurmctld.pid)"
            for _ in $(seq 50); do ctld_running || break; sleep 0.1; done
        else
            return 0
        fi
    fi
    log "starting slurmctld"
    # -i: ignore state files that do not match the configuration (e.g. after a resize)
    slurmctld -i
}

stop_slurmds() {  # after a configuration change: they re-read it and re-register on start
    local pidf
    for pidf in /run/slurm/slurmd-*.pid; do
        [ -f "$pidf" ] || continue
        kill "$(cat "$pidf")" 2>/dev/null || true
        rm -f "$pidf"
    done
    sleep 0.5
}

start_slurmds() {
    local i n pidf
    for i in $(seq 1 "$NODES_REAL"); do
        n="$(name "$i")"
        pidf="/run/slurm/slurmd-$n.pid"
        if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
            continue
        fi
        mkdir -p "/var/spool/slurm/slurmd-$n"
        log "starting slurmd -N $n"
        slurmd -N "$n"
    done
}

wait_sinfo() {
    for _ in $(seq 150); do
        if timeout 5 sinfo -h -o '%n' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    log "sinfo did not answer within 30 s; see /var/log/slurm/slurmctld.log"
    exit 1
}

main() {
    if [ "$(id -u)" -ne 0 ]; then
        log "must run as root"; exit 1
    fi
    install_packages
    local changed
    changed="$(configure)"
    start_munge
    [ -z "$changed" ] || stop_slurmds
    start_slurmctld "$changed"
    wait_sinfo
    start_slurmds
    log "ready: $(sinfo -h -o '%D nodes %t' | tr '\n' ' ')"
}

main "$@"
