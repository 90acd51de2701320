"""bench/ab.py's pure parts and the comparisons' summaries it shares with bench/run.py (`pytest bench`; no servers)."""

import pytest

from bench.ab import backends, parse_routes, table
from bench.run import paired_ratio, summarize, turn_order


def run(rps: float, p99: float, errors: int = 0) -> dict:
    return {"rps": rps, "p50_ms": p99 / 2, "p99_ms": p99, "errors": errors, "requests": int(rps * 5)}


def test_routes_are_wrk_scripts_in_the_order_given_each_once():
    assert parse_routes("trivial, token,trivial") == ["trivial", "token"]
    assert parse_routes("token,token_v3,register,trivial") == ["token", "token_v3", "register", "trivial"]
    for text in ("token,healthz", "", " , "):
        with pytest.raises(ValueError):
            parse_routes(text)


def test_medians_of_req_s_and_p99_are_each_their_own():
    summary = summarize([run(700, 90, 1), run(500, 40), run(600, 120, 2)])
    assert (summary["rps"], summary["p50_ms"], summary["p99_ms"], summary["errors"]) == (600, 45, 90, 3)
    assert summary["rounds"] == [700, 500, 600]
    assert summary["p99_rounds"] == [90, 40, 120]
    assert summarize([run(500, 40), run(700, 60)])["rps"] == 600
    assert summarize([run(640, 33)])["rps"] == 640


def test_a_ratio_is_the_median_of_the_rounds_own_ratios():
    # The host slowed down in the second round: both sides' runs there are low, their ratio is not.
    fast_then_slow = summarize([run(1000, 30), run(500, 60), run(900, 33)])
    other = summarize([run(800, 40), run(420, 70), run(750, 41)])
    assert paired_ratio(fast_then_slow, other) == pytest.approx(1.2)  # 1.25, 1.19, 1.2; best / best: 1.25
    assert paired_ratio(fast_then_slow, other, "p99_rounds") == pytest.approx(33 / 41)  # 0.75, 0.857, 0.805


def test_table_gives_each_sides_medians_and_the_median_of_the_rounds_ratios():
    labels = {"ref": "abc1234", "head": "HEAD def5678+"}
    summaries = {
        "token": {"ref": summarize([run(400, 80), run(500, 70)]), "head": summarize([run(540, 60), run(560, 50)])},
        "trivial": {"ref": summarize([run(1000, 30)]), "head": summarize([run(850, 35.5, 4)])},
    }
    lines = table(labels, summaries)
    assert lines[0].startswith("| route | abc1234 req/s | HEAD def5678+ req/s | HEAD def5678+ / abc1234 |")
    assert lines[2] == "| user_token | 450 | 550 | 124 % | 75.00 | 55.00 | 0 / 0 |"  # 135 % and 112 %
    assert lines[3] == "| 404 (unknown route) | 1000 | 850 | 85 % | 30.00 | 35.50 | 0 / 4 |"
    assert (
        "- user_token, req/s of each round in order: abc1234 400, 500; HEAD def5678+ 540, 560; "
        "HEAD / REF of each round: 135 %, 112 %"
    ) in lines


def test_turns_alternate_which_side_goes_first():
    assert turn_order(["ref", "head"], 1) == ["ref", "head"]
    assert turn_order(["ref", "head"], 3) == ["ref", "head", "head", "ref", "ref", "head"]
    assert turn_order(["a", "b", "c"], 2) == ["a", "b", "c", "c", "b", "a"]


def test_each_side_has_a_database_of_its_own(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_DATABASE_URL", raising=False)
    assert {side: db.url for side, db in backends(tmp_path).items()} == {
        "ref": f"sqlite:///{tmp_path}/ref.db",
        "head": f"sqlite:///{tmp_path}/head.db",
    }
    monkeypatch.setenv("BENCH_DATABASE_URL", "mysql+pymysql://root:pw@127.0.0.1:3306/openim_bench?charset=utf8mb4")
    assert {side: db.url for side, db in backends(tmp_path).items()} == {
        "ref": "mysql+pymysql://root:pw@127.0.0.1:3306/openim_bench_ref?charset=utf8mb4",
        "head": "mysql+pymysql://root:pw@127.0.0.1:3306/openim_bench_head?charset=utf8mb4",
    }
