"""user_token with OpenIM's Redis on (OPENIM_REDIS_URL) vs off, for bench/run.py: one SQLite database.

The Redis is a redis-server of the bench's own, on a free loopback port, without
persistence. Besides the throughput, the Redis commands per request, from the
server's INFO commandstats (a script's own commands counted too), and the round
trips they take: one script call per user_token (HGETALL, HGET, GET of the
watermark, HSET, EXPIRE, PUBLISH), one more when the hash holds fields to clean
up, more when the issue kicks (the bound, the policy).
"""

import shutil
import subprocess
import time
from pathlib import Path

import redis


def _commands(client: redis.Redis) -> int:
    return sum(stats["calls"] for stats in client.info("commandstats").values())


def measure(bench, users: int, run) -> dict | None:
    """{"on": run, "off": run, "commands_per_request": n}; None without redis-server. `run`: bench/run.py's module."""
    if not shutil.which("redis-server"):
        print("[redis] redis-server missing: row skipped (apt-get install redis-server)")
        return None
    backend = run.Backend.sqlite(bench.tmp / "redis.db")
    print(f"[redis] seeding {users} users")
    backend.recreate(bench.env)
    backend.insert_users(run.user_rows(users), batch=10000)
    port = run.free_port()
    folder = Path(bench.tmp / "redis")
    folder.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_timeout=5)
    servers = {}
    try:
        _wait_for(client)
        for switch in ("on", "off"):
            env = {**bench.env, "FLASK_SQLALCHEMY_DATABASE_URI": backend.url}
            if switch == "on":
                env["FLASK_OPENIM_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            servers[switch] = run.Server("wsgi:app", env, f"redis-{switch}")
            run.check_answer(servers[switch], users, bench.secret)
        before = _commands(client)
        on = bench.load(servers["on"], "token", users)
        commands = (_commands(client) - before) / max(on["requests_with_warmup"], 1)
        best = bench.compare(servers, "token", {"on": users, "off": users}, "redis")
        return {
            **best,
            "commands_per_request": commands,
            "ratio": run.paired_ratio(best["on"], best["off"]),
            "ratio_range": run.ratio_range(best["on"], best["off"]),
        }
    finally:
        for server in servers.values():
            server.stop()
        client.close()
        process.terminate()
        process.wait(timeout=15)


def report(result: dict | None) -> list[str]:
    if result is None:
        return []
    on, off = result["on"], result["off"]
    lines = [
        "## user_token with OpenIM's Redis on vs off (SQLite)",
        "",
        "`OPENIM_REDIS_URL` on a redis-server on loopback (docs/openim-redis.md), against the same database "
        "served without it. Each user_token writes its token's field after its record's commit, in one round trip "
        "(a script doing HGETALL, HGET, GET of the hash's watermark, HSET, EXPIRE, PUBLISH), and no second "
        "transaction; one more round trip when the hash holds fields to clean up, more when the issue kicks "
        "(the bound, the multi-login policy).",
        "",
        "| Redis | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |"
              for name, r in (("on", on), ("off", off))]  # fmt: skip
    lines += [
        "",
        f"on / off: {100 * result['ratio']:.0f} % ({result['ratio_range']}); Redis commands per user_token: "
        f"{result['commands_per_request']:.1f}",
        "",
    ]
    return lines


def target(result: dict | None) -> list[str]:
    if result is None:
        return []
    ratio = result["ratio"]
    verdict = "PASS" if ratio >= 0.85 and result["on"]["errors"] == 0 else "FAIL"
    measured = f"{100 * ratio:.0f} % ({result['ratio_range']})"
    return [f"| user_token with OpenIM's Redis ≥ 85 % of without | {measured} | {verdict} |"]


def _wait_for(client: redis.Redis) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not answer in 15 s")
