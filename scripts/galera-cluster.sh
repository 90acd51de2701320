#!/usr/bin/env bash
# A three-node MariaDB Galera cluster on loopback, for `make test-galera` and `make bench-galera`.
#
#   scripts/galera-cluster.sh up        fresh cluster (old data wiped), returns once all three are Synced
#   scripts/galera-cluster.sh down      stop every node (SIGTERM, SIGKILL after 30 s)
#   scripts/galera-cluster.sh status    one line per node: "nodeN pid=<pid or -> <cluster size>"
#   scripts/galera-cluster.sh start N   start node N on its existing data, wait until Synced
#   scripts/galera-cluster.sh kill N    SIGKILL node N (a crash, not a shutdown)
#
# Node N: SQL on 127.0.0.1:331N (TCP login root, no password), group communication on 457N,
# incremental state transfer (IST) on 458N, rsync full state transfer (SST) on 459N; data in
# $GALERA_DIR/nodeN (default /tmp/galera). GALERA_OPTS='k=v;...' is appended to the provider
# options. A MariaDB on 3306 is never touched. Missing galera-4, rsync or MariaDB are installed
# from Debian (apt-get; run `apt-get update` first on a fresh machine), without starting the
# distribution's own MariaDB service.
#
# Typical timings on a 2-core machine: `up` about 10 s; a node killed with SIGKILL stalls the
# others' writes for about 6 s (Galera's 5 s failure timeout); `start` after a kill rejoins by
# IST in about 4 s.
set -euo pipefail

BASE=${GALERA_DIR:-/tmp/galera}
NODES=(1 2 3)
PROVIDER=/usr/lib/galera/libgalera_smm.so

node_dir() { echo "$BASE/node$1"; }

# One value from the node's local socket, empty when it does not answer.
node_query() {
    mariadb --no-defaults -uroot -S "$(node_dir "$1")/mysqld.sock" -Nse "$2" 2>/dev/null || true
}

node_status() { node_query "$1" "SHOW STATUS LIKE '$2'" | cut -f2; }

# The pid of node N's server if it runs (checked against its command line: pids get reused).
node_pid() {
    local dir pid
    dir=$(node_dir "$1")
    pid=$(cat "$dir/mariadbd.pid" 2>/dev/null) || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "--defaults-file=$dir/my.cnf" || return 1
    echo "$pid"
}

write_config() {
    local n=$1 dir
    dir=$(node_dir "$n")
    cat >"$dir/my.cnf" <<EOF
[mysqld]
user=mysql
datadir=$dir/data
socket=$dir/mysqld.sock
pid-file=$dir/server.pid
log-error=$dir/error.log
port=331$n
bind-address=127.0.0.1
skip-name-resolve
character-set-server=utf8mb4
# What Galera requires of every node
binlog-format=ROW
default-storage-engine=InnoDB
innodb-autoinc-lock-mode=2
# Small and fast enough for three nodes beside the tests on one machine
innodb-buffer-pool-size=64M
innodb-log-file-size=16M
innodb-flush-log-at-trx-commit=2
wsrep-on=ON
wsrep-provider=$PROVIDER
wsrep-cluster-address=gcomm://127.0.0.1:4571,127.0.0.1:4572,127.0.0.1:4573
wsrep-node-name=node$n
wsrep-node-address=127.0.0.1:457$n
wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:457$n;ist.recv_addr=127.0.0.1:458$n;gcache.size=32M${GALERA_OPTS:+;$GALERA_OPTS}
wsrep-sst-method=rsync
wsrep-sst-receive-address=127.0.0.1:459$n
EOF
}

install_missing_packages() {
    if [ -f "$PROVIDER" ] && [ -x /usr/bin/wsrep_sst_rsync ] && command -v rsync >/dev/null \
        && command -v mariadb >/dev/null && [ -x /usr/sbin/mariadbd ]; then
        return
    fi
    # policy-rc.d answering 101 keeps the package from starting the distribution's MariaDB.
    local policy=/usr/sbin/policy-rc.d placed=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && placed=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q galera-4 rsync mariadb-server mariadb-client >/dev/null
    [ -z "$placed" ] || rm -f "$policy"
}

# start N [mariadbd options]: keeps the data directory, returns once the node is Synced.
start_node() {
    local n=$1 dir pos
    shift
    dir=$(node_dir "$n")
    node_pid "$n" >/dev/null && return 0
    if [ -f "$dir/data/ibdata1" ] && grep -q '^seqno: *-1' "$dir/data/grastate.dat" 2>/dev/null; then
        # Killed, so grastate.dat has no position: recover it from InnoDB, so that the node
        # rejoins by IST (the writes it missed) rather than by a full SST copy.
        /usr/sbin/mariadbd --defaults-file="$dir/my.cnf" --wsrep-recover --log-error="$dir/recover.log" \
            >/dev/null 2>&1 || true
        pos=$(sed -n 's/.*WSREP: Recovered position: *//p' "$dir/recover.log" | tail -1)
        if [ -n "$pos" ]; then set -- "$@" --wsrep-start-position="$pos"; fi
    fi
    setsid /usr/sbin/mariadbd --defaults-file="$dir/my.cnf" "$@" </dev/null >>"$dir/stdout.log" 2>&1 &
    echo $! >"$dir/mariadbd.pid"
    for _ in $(seq 600); do
        [ "$(node_status "$n" wsrep_local_state_comment)" = Synced ] && return 0
        if ! node_pid "$n" >/dev/null; then
            tail -20 "$dir/error.log" >&2
            echo "node$n died while starting" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "node$n not Synced after 60 s" >&2
    return 1
}

down() {
    local n pid pids=()
    for n in "${NODES[@]}"; do
        if pid=$(node_pid "$n"); then kill -TERM "$pid" && pids+=("$pid"); fi
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}

up() {
    local n dir
    install_missing_packages
    down
    mkdir -p "$BASE" && chmod 755 "$BASE"
    for n in "${NODES[@]}"; do
        dir=$(node_dir "$n")
        rm -rf "$dir" && mkdir -p "$dir/data"
        write_config "$n"
        chown -R mysql: "$dir"
    done
    # Only node 1 gets system tables (with a passwordless root@127.0.0.1); it founds the
    # cluster, and nodes 2 and 3 receive everything from it by SST when they join.
    mariadb-install-db --defaults-file="$(node_dir 1)/my.cnf" --wsrep-on=OFF \
        --auth-root-authentication-method=normal --skip-test-db >"$(node_dir 1)/install.log" 2>&1
    start_node 1 --wsrep-new-cluster
    start_node 2
    start_node 3
    for n in "${NODES[@]}"; do
        if [ "$(node_status "$n" wsrep_cluster_size)" != 3 ]; then
            echo "node$n does not see a cluster of 3" >&2
            exit 1
        fi
    done
    echo "cluster up, size 3, ${SECONDS}s"
}

status() {
    local n
    for n in "${NODES[@]}"; do
        echo "node$n pid=$(node_pid "$n" || echo -) $(node_status "$n" wsrep_cluster_size)"
    done
}

node_argument() {
    case "${1:-}" in
        1|2|3) ;;
        *) echo "node must be 1, 2 or 3" >&2; exit 2 ;;
    esac
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    start) node_argument "${2:-}"; start_node "$2" ;;
    kill) node_argument "${2:-}"; pid=$(node_pid "$2") && kill -KILL "$pid" ;;
    *) echo "usage: $0 up|down|status|start N|kill N" >&2; exit 2 ;;
esac
