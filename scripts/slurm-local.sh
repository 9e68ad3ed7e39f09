#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for balmix's Slurm tests and for trying
# `balmix table --executor slurm` without a cluster (issue 17). Needs root.
#
#   scripts/slurm-local.sh start     # install munge + slurm-wlm if missing, start the daemons
#   scripts/slurm-local.sh status    # is it up? (sinfo)
#   scripts/slurm-local.sh stop      # stop the daemons (the packages stay)
#   scripts/slurm-local.sh env       # the line to paste into a shell: export SLURM_CONF=…
#
# Everything lives under $BALMIX_SLURM_DIR (default /tmp/balmix-slurm): slurm.conf, state,
# spool, logs. The Slurm commands find the cluster through SLURM_CONF=$BALMIX_SLURM_DIR/slurm.conf
# (the tests set it themselves when that file exists); /etc/slurm is never touched.
# One node (this host on 127.0.0.1) with the machine's CPUs (or $BALMIX_SLURM_CPUS), one
# partition `local`, proctrack/linuxproc and task/none (no cgroups needed), requeue allowed.
set -euo pipefail

DIR="${BALMIX_SLURM_DIR:-/tmp/balmix-slurm}"
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

say() { echo "slurm-local: $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        say "Slurm or munge is missing and installing them needs root: apt-get install slurm-wlm munge"
        exit 2
    fi
    if ! command -v apt-get >/dev/null; then
        say "Slurm or munge is missing and this is not a Debian/Ubuntu system: install slurm-wlm and munge with your package manager"
        exit 2
    fi
    say "installing slurm-wlm and munge (about a minute)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    local cpus="${BALMIX_SLURM_CPUS:-$(nproc)}"
    local host
    host="$(hostname -s)"
    cat >"$CONF" <<CONF
# Written by balmix scripts/slurm-local.sh: a single-node cluster on loopback.
ClusterName=balmix-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=30
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    if pgrep -x munged >/dev/null; then
        return
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown munge:munge /etc/munge/munge.key 2>/dev/null || true
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
    else
        /usr/sbin/munged --force
    fi
}

up() {
    sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'
}

start() {
    install_packages
    write_conf
    start_munge
    pgrep -x slurmctld >/dev/null || slurmctld -f "$CONF"
    pgrep -x slurmd >/dev/null || slurmd -f "$CONF"
    for _ in $(seq 1 60); do
        if up; then
            say "up: $(sinfo -h -o '%P %D node(s) %c CPUs %T')"
            say "use it with: export SLURM_CONF=$CONF"
            return
        fi
        sleep 1
    done
    say "the cluster did not come up within 60 s; logs in $DIR/log"
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    exit 1
}

stop() {
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    for _ in $(seq 1 20); do
        pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || break
        sleep 0.5
    done
    say "stopped (munged left running; the state in $DIR)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) if up; then sinfo; else say "not running"; exit 1; fi ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|status|stop|env" >&2; exit 2 ;;
esac
