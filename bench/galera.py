"""`make bench-galera`: the service on one MariaDB server vs spread over a three-node Galera cluster.

Standalone: three gunicorn instances (OPENIM_WORKERS=2 each) all on the MariaDB on
127.0.0.1:3306 (database openim_bench_standalone; BENCH_DATABASE_URL names another
server). Cluster: one instance per node of the Galera cluster on 127.0.0.1:3311-3313
(database openim_bench_galera), brought up with scripts/galera-cluster.sh (or
GALERA_CLUSTER_SCRIPT) if `status` shows it down, and taken down at the end only then.
Each database is seeded with the same users; then three wrk processes at once, one per
instance, 32 connections in all, load user_token and user_register (a fresh userID per
request); the two setups take turns, in reverse order every other round, and each ratio is
the median of the rounds' own ratios (bench/run.py's paired_ratio). The results replace the section
of BENCHMARKS.md between the galera-bench markers (bench/run.py carries it over).

    .venv/bin/python bench/galera.py                 # ~2.5 minutes; writes BENCHMARKS.md
    .venv/bin/python bench/galera.py --seconds 3 --rounds 1 --output bench/out/galera.md
"""

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (  # noqa: E402 - after the path is set
    CONNECTIONS,
    DEFAULT_MYSQL_URL,
    GALERA_END,
    GALERA_START,
    NOTES_HEADING,
    OUT,
    ROOT,
    Backend,
    Bench,
    Server,
    check_answer,
    ensure_wrk,
    machine,
    mysql_answers,
    paired_ratio,
    summarize,
    turn_order,
    user_rows,
    wrk,
)

CLUSTER_SCRIPT = Path(os.environ.get("GALERA_CLUSTER_SCRIPT") or ROOT / "scripts" / "galera-cluster.sh")
NODES = (1, 2, 3)
INSTANCES = len(NODES)
WORKERS = 2
STANDALONE_DB, CLUSTER_DB = "openim_bench_standalone", "openim_bench_galera"
RETRY_NEEDLE = "retrying after MySQL error"


# ----------------------------------------------------------------- the cluster
def cluster(*args: str, timeout: float = 240) -> str:
    done = subprocess.run(["bash", str(CLUSTER_SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        sys.exit(f"galera-cluster.sh {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def cluster_is_up() -> bool:
    """All three nodes running, each seeing a cluster of 3."""
    nodes = {}
    for line in cluster("status", timeout=30).splitlines():
        fields = line.split()
        if fields and fields[0].startswith("node"):
            nodes[fields[0]] = fields[1:]
    return all(nodes.get(f"node{n}", ["pid=-"])[0] != "pid=-" and nodes[f"node{n}"][1:] == ["3"] for n in NODES)


def bring_cluster_up() -> None:
    if not CLUSTER_SCRIPT.is_file():
        sys.exit(f"{CLUSTER_SCRIPT} not found: set GALERA_CLUSTER_SCRIPT to galera-cluster.sh")
    if not (Path("/usr/lib/galera/libgalera_smm.so").exists() and shutil.which("rsync")):
        # The script apt-get installs galera-4 and rsync; without a fresh index apt may not find them.
        print("galera-4 or rsync missing: apt-get update, then galera-cluster.sh installs them")
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
    started = time.monotonic()
    cluster("up")
    print(f"[cluster] up in {time.monotonic() - started:.0f} s")


def node_url(node: int) -> str:
    return f"mysql+pymysql://root@127.0.0.1:{3310 + node}/{CLUSTER_DB}?charset=utf8mb4"


def standalone_url() -> str:
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("BENCH_DATABASE_URL") or DEFAULT_MYSQL_URL).set(database=STANDALONE_DB)
    return url.render_as_string(hide_password=False)


def drop(backend: Backend) -> None:
    """Best effort: the bench's database goes when the bench is done (its name contains 'bench')."""
    from sqlalchemy.engine import make_url

    name = make_url(backend.url).database
    assert "bench" in name
    try:
        conn = backend.connect(database=False)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
    except Exception as exc:  # noqa: BLE001 - cleanup only
        print(f"could not drop {name}: {exc}")


def server_settings(backend: Backend) -> str:
    conn = backend.connect(database=False)
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@innodb_buffer_pool_size DIV 1048576")
        version, flush, pool = cur.fetchone()
    conn.close()
    return f"MariaDB {version.split('-')[0]}, innodb_flush_log_at_trx_commit={flush}, buffer pool {pool} MB"


# ----------------------------------------------------------------- the setups
def setup(bench: Bench, name: str, urls: list[str], users: int, servers: list) -> list[Server]:
    """Seed `users` users through the first URL, then one gunicorn instance per URL (started at once)."""
    backend = Backend(name, urls[0])
    print(f"[{name}] seeding {users} users")
    backend.recreate(bench.env)  # drop, create, `flask db upgrade` (through node 1 on the cluster)
    backend.insert_users(user_rows(users), batch=1000)
    slug = name.lower()
    with ThreadPoolExecutor(len(urls)) as pool:
        futures = [
            pool.submit(bench.serve, "wsgi:app", Backend(name, url), f"galera-bench-{slug}-{i}")
            for i, url in enumerate(urls, 1)
        ]
        errors = []
        for future in futures:  # every started one is stopped at the end, even if another failed
            try:
                servers.append(future.result())
            except BaseException as exc:  # noqa: BLE001 - Server exits with SystemExit
                errors.append(exc)
        if errors:
            raise errors[0]
    started = servers[-len(urls) :]
    for server in started:
        check_answer(server, users, bench.secret)  # on the cluster: the seed is visible through every node
    return started


def drive(bench: Bench, servers: list[Server], script: str, seconds: int, users: int) -> dict:
    """Three wrk processes at once, one per instance, CONNECTIONS in all; their sum (p99: the worst)."""
    split = [CONNECTIONS // len(servers) + (i < CONNECTIONS % len(servers)) for i in range(len(servers))]
    with ThreadPoolExecutor(len(servers)) as pool:
        futures = []
        for server, connections in zip(servers, split, strict=True):
            bench.runs += 1
            env = {**bench.env, "BENCH_USERS": str(users), "BENCH_RUN": f"g{os.getpid()}x{bench.runs}"}
            futures.append(pool.submit(wrk, server, script, seconds, env, connections))
        parts = []
        for future in futures:
            try:
                parts.append(future.result())
            except subprocess.CalledProcessError as exc:  # wrk's own failure (e.g. cannot connect): say why
                failure = exc
                print(
                    f"wrk failed (exit {exc.returncode}): {(exc.stderr or '').strip()[-300:]} "
                    f"{(exc.stdout or '').strip()[-300:]}"
                )
        if len(parts) < len(futures):
            raise failure
    return {
        "rps": sum(p["rps"] for p in parts),
        "p99_ms": max(p["p99_ms"] for p in parts),
        "p50_ms": max(p["p50_ms"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
        "parts": [p["rps"] for p in parts],
        "split": split,
    }


def compare(bench: Bench, setups: dict, script: str, users: int) -> dict:
    """Each setup's `rounds` runs (warm-up, then measured), turn about (turn_order), summarized;
    "parts" and "split" are its median round's."""
    measured = {name: [] for name in setups}
    for name in turn_order(list(setups), bench.rounds):
        servers = setups[name]
        try:
            drive(bench, servers, script, bench.warmup, users)
            result = drive(bench, servers, script, bench.seconds, users)
        except subprocess.CalledProcessError:  # once: the machine is shared, a blip is not the setup
            time.sleep(3)
            result = drive(bench, servers, script, bench.seconds, users)
        bench.load_averages.append(os.getloadavg()[0])
        print(
            f"[{name:>10}] {script:8} {result['rps']:7.0f} req/s (per instance "
            f"{' + '.join(f'{r:.0f}' for r in result['parts'])})  p99 {result['p99_ms']:7.2f} ms  "
            f"errors {result['errors']}"
        )
        measured[name].append(result)
    summaries = {}
    for name, results in measured.items():
        median_round = sorted(results, key=lambda result: result["rps"])[len(results) // 2]
        summaries[name] = {**summarize(results), "parts": median_round["parts"], "split": median_round["split"]}
    return summaries


def log_count(servers: list[Server], needle: str) -> int:
    return sum(Path(server.log.name).read_text(errors="replace").count(needle) for server in servers)


# ----------------------------------------------------------------- the report
def section(bench: Bench, users: int, results: dict, notes: dict) -> str:
    m = machine()
    split = results["token"]["Standalone"]["split"]
    lines = [
        GALERA_START,
        "## Standalone MariaDB vs three-node Galera cluster",
        "",
        f"Written by `make bench-galera` (`bench/galera.py`) on {m['date']}.",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory; Python {m['python']}, {m['wrk']}; "
        "the database servers, gunicorn and wrk all on this one machine.",
        f"Both setups: {users:,} users; {INSTANCES} gunicorn instances of {WORKERS} sync workers each, loaded at "
        f"once by {INSTANCES} wrk processes (one per instance, {' + '.join(map(str, split))} = {sum(split)} "
        f"connections, 2 threads each), {bench.seconds} s per run after a {bench.warmup} s warm-up; "
        f"{bench.rounds} rounds in which the setups take turns, in reverse order every other round. "
        "user_register: a fresh userID per request.",
        f"Standalone: all three instances on the MariaDB on 127.0.0.1:3306 ({notes['standalone']}). "
        f"Cluster: instance N on Galera node N, 127.0.0.1:3311–3313 (`galera-cluster.sh`; {notes['cluster']}; "
        f"{notes['cluster_origin']}).",
        f"Load: `uptime` before the run: {notes['uptime']}; 1-minute load average after the runs: "
        f"{min(bench.load_averages):.1f} to {max(bench.load_averages):.1f} (the bench itself accounts for "
        "about 5 to 7 on this machine; more means other jobs shared the CPUs).",
        "req/s and p99 are each setup's medians of its rounds (a round's p99: the worst of its three wrk "
        "processes'), and Galera / standalone the median of the rounds' own ratios; errors "
        "(non-2xx answers plus socket errors) are those of all its measured rounds. "
        "From the gunicorn logs of all runs, warm-ups included: MySQL errors 1213/1205 retried by the service "
        f"(`{RETRY_NEEDLE}`) standalone {notes['retries']['Standalone']}, cluster {notes['retries']['Galera']}; "
        "answers 503 (errCode 802, still failing after its retries) "
        f"standalone {notes['503']['Standalone']}, cluster {notes['503']['Galera']}.",
        "",
        "| endpoint | standalone req/s | p99 ms | errors | Galera req/s | p99 ms | errors | Galera / standalone |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for script, label in (("token", "user_token"), ("register", "user_register")):
        s, g = results[script]["Standalone"], results[script]["Galera"]
        lines.append(
            f"| {label} | {s['rps']:.0f} | {s['p99_ms']:.2f} | {s['errors']} | {g['rps']:.0f} | "
            f"{g['p99_ms']:.2f} | {g['errors']} | {100 * paired_ratio(g, s):.0f} % |"
        )
    lines += [
        "",
        "Per instance (req/s, of the median round): "
        + "; ".join(
            f"{label} standalone {' + '.join(f'{r:.0f}' for r in results[script]['Standalone']['parts'])}, "
            f"Galera {' + '.join(f'{r:.0f}' for r in results[script]['Galera']['parts'])}"
            for script, label in (("token", "user_token"), ("register", "user_register"))
        )
        + ".",
        "Every round (total req/s, in order): "
        + "; ".join(
            f"{label} standalone {', '.join(f'{r:.0f}' for r in results[script]['Standalone']['rounds'])}, "
            f"Galera {', '.join(f'{r:.0f}' for r in results[script]['Galera']['rounds'])}"
            for script, label in (("token", "user_token"), ("register", "user_register"))
        )
        + ".",
        "",
        "On one machine the cluster adds no CPU: three database servers share the cores with gunicorn and "
        "wrk, so this measures what replication, certification and causal reads (`wsrep_sync_wait`) cost, not "
        "the scale-out a cluster of separate hosts would give. On a shared machine the rounds spread widely "
        "(above): read the ratio to within some tens of percent.",
        GALERA_END,
    ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replace the marked section of `path` if present; else insert it before the hand-written notes, or append."""
    old = path.read_text() if path.exists() else ""
    first, last = old.find(GALERA_START), old.find(GALERA_END)
    if 0 <= first < last:
        new = old[:first] + text + old[last + len(GALERA_END) :]
    elif (notes := old.find(NOTES_HEADING)) >= 0:
        new = old[:notes] + text + "\n\n" + old[notes:]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text + "\n"
    path.write_text(new)


def wait_for_lock(path: Path, seconds: float = 240):
    """One run at a time (they share the databases and the cluster): wait for another to end, then hold the lock."""
    lock = open(path, "w")
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock  # held until this process exits
        except BlockingIOError:
            if time.monotonic() > deadline:
                sys.exit(f"another bench/galera.py still holds {path} after {seconds:.0f} s")
            if time.monotonic() + seconds - deadline < 5:  # said once
                print(f"waiting for another bench/galera.py to end ({path})", flush=True)
            time.sleep(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=4, help="per measured run (after a 2 s warm-up)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    began = time.monotonic()
    OUT.mkdir(exist_ok=True)
    wait_for_lock(OUT / "galera.lock")
    ensure_wrk()
    standalone = Backend("Standalone", standalone_url())
    if not mysql_answers(standalone.url):
        print("galera bench skipped: it compares against the MariaDB on 3306 (BENCH_DATABASE_URL)")
        return
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"[load] {uptime}")
    bench = Bench(quick=False)
    bench.seconds, bench.warmup, bench.rounds = args.seconds, 2, args.rounds
    bench.env["OPENIM_WORKERS"] = str(WORKERS)
    brought_up = False
    servers: list[Server] = []
    galera = Backend("Galera", node_url(1))
    try:
        if cluster_is_up():
            origin = "up already: reused, left running"
        else:
            bring_cluster_up()
            brought_up, origin = True, "brought up for the run, taken down after"
        notes = {
            "uptime": uptime,
            "cluster_origin": origin,
            "standalone": server_settings(standalone),
            "cluster": server_settings(galera),
        }
        setups = {
            "Standalone": setup(bench, "Standalone", [standalone.url] * INSTANCES, args.users, servers),
            "Galera": setup(bench, "Galera", [node_url(n) for n in NODES], args.users, servers),
        }
        results = {script: compare(bench, setups, script, args.users) for script in ("token", "register")}
        if not cluster_is_up():
            sys.exit("the cluster lost a node during the run (another job?): numbers not written")
        for server in servers:
            server.stop()
        notes["retries"] = {name: log_count(instances, RETRY_NEEDLE) for name, instances in setups.items()}
        notes["503"] = {name: log_count(instances, '" 503 ') for name, instances in setups.items()}
        servers.clear()
        text = section(bench, args.users, results, notes)
        write_section(args.output, text)
        print(text)
        print(f"written to {args.output} in {time.monotonic() - began:.0f} s")
    finally:
        for server in servers:
            server.stop()
        drop(standalone)
        if brought_up:
            cluster("down")
        else:
            drop(galera)
        shutil.rmtree(bench.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
