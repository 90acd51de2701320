"""Two instances of the service, one database, behave as one service (docs/deployment.md).

On MySQL/MariaDB, as several hosts would run them; on SQLite, as one host can
(two gunicorn masters on one database file).
"""

import pytest

from tests.http.server import Servers, all_at_once, assert_no_server_errors, err_codes

pytestmark = pytest.mark.http


@pytest.fixture(scope="module")
def two_instances(tmp_path_factory, http_database_url):
    servers = Servers(tmp_path_factory)
    first = servers.start(http_database_url, workers=2)
    second = servers.start(http_database_url, workers=2, upgrade=False)
    yield first, second
    servers.stop_all()


def test_registered_on_one_instance_gets_a_token_from_the_other(two_instances, unique_id):
    first, second = two_instances
    user_id = unique_id("across")

    assert first.register(user_id)[1]["errCode"] == 0
    status, answer = second.user_token(user_id, platform=5)
    assert (status, answer["errCode"], answer["data"]["userID"]) == (200, 0, user_id)

    other = unique_id("back")
    assert second.register(other)[1]["errCode"] == 0
    assert first.user_token(other)[1]["errCode"] == 0


def test_race_spread_over_both_instances_has_one_winner(two_instances, unique_id):
    first, second = two_instances
    user_id = unique_id("race2")
    calls = [lambda i=i: (first if i % 2 else second).register(user_id, f"op-{i}") for i in range(64)]

    results = all_at_once(calls)

    assert_no_server_errors(results)
    codes = err_codes(results)
    assert codes.count(0) == 1
    assert codes.count(1102) == 63
    assert first.user_token(user_id)[1]["errCode"] == second.user_token(user_id)[1]["errCode"] == 0
