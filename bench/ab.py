"""`make bench-ab REF=<commit>`: a commit against the working tree, served turn about; their ratio.

So that a speed claim in a commit message can be measured again: REF's tree is
extracted with `git archive` into a temporary directory (the repository is left
as it is: no worktree, no branch), and HEAD is this working tree, uncommitted
changes included, or with --head another commit's tree, extracted likewise.
Each is served from its own directory, by its own wsgi.py and gunicorn.conf.py
with PYTHONPATH set to it, by the venv that runs this script, on a database of
its own migrated by its own `flask db upgrade` and seeded with the same users:
SQLite files in a temporary directory, or, with BENCH_DATABASE_URL, the MariaDB
databases <its name>_ref and <its name>_head (dropped and created; the name
must contain 'bench').

For each route, wrk (bench/<route>.lua of this checkout, 32 connections, a
warm-up before every run) loads the two in turn for ROUNDS rounds: REF then
HEAD in the first, HEAD then REF in the second, and so on. The table gives
each side's median round (req/s and p99 separately) and HEAD / REF, the
median of the rounds' own ratios, then each round's req/s and ratio;
bench/out/ab-<REF's short hash>.md gets it too.

    .venv/bin/python bench/ab.py HEAD~1                         # 3 rounds of 5 s per route
    .venv/bin/python bench/ab.py bf7458f --rounds 5 --routes token,trivial
    .venv/bin/python bench/ab.py 8f6228c~1 --head 8f6228c       # a commit's own claim
"""

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (  # noqa: E402 - after the path is set
    CONNECTIONS,
    OUT,
    ROOT,
    Backend,
    Bench,
    Server,
    admin_token,
    check_answer,
    ensure_wrk,
    machine,
    paired_ratio,
    round_ratios,
    summarize,
    turn_order,
    user_rows,
)

# wrk script (bench/<name>.lua) -> the route it loads, as the table names it.
ROUTES = {
    "token": "user_token",
    "token_v3": "v3 get_user_token",
    "register": "user_register",
    "trivial": "404 (unknown route)",
}
SIDES = ("ref", "head")


# ----------------------------------------------------------------- pure parts (bench/test_ab.py)
def parse_routes(text: str) -> list[str]:
    """ROUTES=token,trivial: the named wrk scripts, in the order given, each once."""
    routes = []
    for name in (part.strip() for part in text.split(",")):
        if name not in ROUTES:
            raise ValueError(f"unknown route {name!r}: choose from {', '.join(ROUTES)}")
        if name not in routes:
            routes.append(name)
    if not routes:
        raise ValueError("no route named")
    return routes


def table(labels: dict, summaries: dict) -> list[str]:
    """Markdown rows: per route, each side's medians and HEAD / REF (the median of the rounds' own ratios:
    the two runs of a round are next to each other in time, load that comes and goes moves both); then
    each round's req/s and ratio."""
    ref, head = labels["ref"], labels["head"]
    lines = [
        f"| route | {ref} req/s | {head} req/s | {head} / {ref} | {ref} p99 ms | {head} p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for route, sides in summaries.items():
        r, h = sides["ref"], sides["head"]
        lines.append(
            f"| {ROUTES[route]} | {r['rps']:.0f} | {h['rps']:.0f} | {100 * paired_ratio(h, r):.0f} % | "
            f"{r['p99_ms']:.2f} | {h['p99_ms']:.2f} | {r['errors']} / {h['errors']} |"
        )
    lines.append("")
    for route, sides in summaries.items():
        each = "; ".join(f"{labels[side]} {', '.join(f'{rps:.0f}' for rps in sides[side]['rounds'])}" for side in SIDES)
        ratios = ", ".join(f"{100 * ratio:.0f} %" for ratio in round_ratios(sides["head"], sides["ref"]))
        lines.append(f"- {ROUTES[route]}, req/s of each round in order: {each}; HEAD / REF of each round: {ratios}")
    return lines


# ----------------------------------------------------------------- the checkouts
def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def resolve(ref: str) -> str:
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except subprocess.CalledProcessError:
        sys.exit(f"not a commit: {ref}")


def extract(commit: str, into: Path) -> None:
    """REF's tree as `git archive` gives it (tracked files only), into a fresh directory."""
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", "--format=tar", commit], cwd=ROOT, stdout=subprocess.PIPE)
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        tar.extractall(into, filter="data")
    if archive.wait() != 0:
        sys.exit(f"git archive {commit} failed")


def backends(tmp: Path) -> dict:
    """A database for each side: SQLite files, or two MariaDB databases named after BENCH_DATABASE_URL's."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        return {side: Backend.sqlite(tmp / f"{side}.db") for side in SIDES}
    from sqlalchemy.engine import make_url

    base = make_url(url)
    return {
        side: Backend("MariaDB", base.set(database=f"{base.database}_{side}").render_as_string(hide_password=False))
        for side in SIDES
    }


def v3_admin_token(server: Server, secret: str, label: str) -> str | None:
    """An admin token for token_v3, or None when the checkout has no v3 (older commits)."""
    try:
        return admin_token(server, secret)
    except (OSError, SystemExit) as exc:  # admin_token exits on a refusal; a missing route is an HTTPError
        print(f"[ab] {label}: no v3 admin token ({exc}); token_v3 left out")
        return None


def serve(bench: Bench, side: str, directory: Path, backend: Backend, users: int, label: str) -> Server:
    """One checkout's database migrated by its own code and seeded; then its gunicorn, checked."""
    env = {
        **bench.env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")])),
        "OPENIM_INSTANCE_PATH": str(bench.tmp / f"instance-{side}"),
    }
    print(f"[ab] {label}: migrating and seeding {users} users ({backend.name})")
    backend.recreate(env, cwd=directory)
    backend.insert_users(user_rows(users), batch=10000)
    server = Server("wsgi:app", {**env, "FLASK_SQLALCHEMY_DATABASE_URI": backend.url}, f"ab-{side}", cwd=directory)
    check_answer(server, users, bench.secret)
    return server


# ----------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the commit to measure the working tree against (HEAD~1, a hash, a tag)")
    parser.add_argument("--head", metavar="COMMIT", help="serve this commit as HEAD instead of the working tree")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per route, each side once in each (3)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per measured run (5)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of the warm-up before every run (1)")
    parser.add_argument("--users", type=int, default=100_000, help="users seeded in each database (100000)")
    parser.add_argument("--routes", default=",".join(ROUTES), help=f"comma-separated, of {', '.join(ROUTES)} (all)")
    args = parser.parse_args()
    try:
        routes = parse_routes(args.routes)
    except ValueError as exc:
        parser.error(str(exc))
    if args.rounds < 1 or args.seconds < 1 or args.warmup < 1 or args.users < 1:
        parser.error("--rounds, --seconds, --warmup and --users must be at least 1")

    commit = resolve(args.ref)
    short = git("rev-parse", "--short", commit)
    if args.head:
        head_commit = resolve(args.head)
        head_short = git("rev-parse", "--short", head_commit)
        labels = {"ref": short, "head": head_short}
        head_text = f"HEAD {head_short}: {git('log', '-1', '--format=%s', head_commit)}"
    else:
        head_short = git("rev-parse", "--short", "HEAD")
        changed = bool(git("status", "--porcelain", "--untracked-files=no"))
        labels = {"ref": short, "head": f"HEAD {head_short}{'+' if changed else ''}"}
        head_text = f"HEAD {head_short}: the working tree{', with uncommitted changes (+)' if changed else ''}."
    OUT.mkdir(exist_ok=True)
    ensure_wrk()

    bench = Bench(quick=True)
    bench.rounds, bench.seconds, bench.warmup = args.rounds, args.seconds, args.warmup
    servers = {}
    try:
        extract(commit, bench.tmp / "ref")
        if args.head:
            extract(head_commit, bench.tmp / "head")
        databases = backends(bench.tmp)
        directories = {"ref": bench.tmp / "ref", "head": bench.tmp / "head" if args.head else ROOT}
        for side in SIDES:
            servers[side] = serve(bench, side, directories[side], databases[side], args.users, labels[side])
            if "token_v3" in routes:
                token = v3_admin_token(servers[side], bench.secret, labels[side])
                if token is None:
                    routes.remove("token_v3")
                else:
                    servers[side].wrk_env["BENCH_ADMIN_TOKEN"] = token
        if not routes:
            sys.exit("no route left to measure")
        summaries = {}
        for route in routes:
            rounds = {side: [] for side in SIDES}
            for side in turn_order(list(SIDES), args.rounds):
                rounds[side].append(bench.load(servers[side], route, args.users))
            summaries[route] = {side: summarize(rounds[side]) for side in SIDES}
            r, h = summaries[route]["ref"], summaries[route]["head"]
            print(f"[ab] {ROUTES[route]}: {labels['ref']} {r['rps']:.0f}, {labels['head']} {h['rps']:.0f} req/s")
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(bench.tmp, ignore_errors=True)

    m = machine()
    subject = git("log", "-1", "--format=%s", commit)
    lines = [
        f"# A/B: {labels['ref']} against {labels['head']}",
        "",
        f"Written by `bench/ab.py {args.ref}{f' --head {args.head}' if args.head else ''}` "
        f"(`make bench-ab REF={args.ref}{f' HEAD_REF={args.head}' if args.head else ''}`) on {m['date']}.",
        f"REF {commit[:12]}: {subject}",
        head_text,
        f"Machine: {m['nproc']} CPUs ({m['cpu']}); Python {m['python']}, {m['wrk']}; "
        f"1-minute load average after the runs: {min(bench.load_averages):.1f} to {max(bench.load_averages):.1f}.",
        f"{databases['ref'].name}, {args.users:,} users seeded in each side's own database; gunicorn with each "
        f"side's gunicorn.conf.py; wrk 2 threads, {CONNECTIONS} connections, {args.seconds} s per run after a "
        f"{args.warmup} s warm-up; {args.rounds} round(s), REF first in odd ones, HEAD first in even ones; "
        "medians of the rounds; HEAD / REF is the median of the rounds' own ratios.",
        "Errors (REF / HEAD, all rounds) are non-2xx answers plus socket errors; on the 404, answers other than 404.",
        "",
        *table(labels, summaries),
    ]
    text = "\n".join(lines) + "\n"
    target = OUT / f"ab-{short}.md"
    target.write_text(text)
    print(text)
    print(f"written to {target}")
    errors = sum(s["errors"] for sides in summaries.values() for s in sides.values())
    if errors:
        sys.exit(f"{errors} errors under load: the two sides did not answer as the scripts expect")


if __name__ == "__main__":
    main()
