"""What a gunicorn worker does once it has loaded the app (app/serving/gunicorn_settings.py post_worker_init)."""

import gc

from app.serving import gunicorn_settings


def test_the_settings_name_the_hook_with_or_without_a_health_port(monkeypatch):
    monkeypatch.delenv("OPENIM_HEALTH_BIND", raising=False)
    assert gunicorn_settings.settings()["post_worker_init"] is gunicorn_settings.post_worker_init
    monkeypatch.setenv("OPENIM_HEALTH_BIND", "127.0.0.1:0")
    assert gunicorn_settings.settings()["post_worker_init"] is gunicorn_settings.post_worker_init


def test_a_worker_freezes_what_it_has_loaded_so_the_collector_no_longer_walks_it(monkeypatch):
    monkeypatch.delenv("OPENIM_HEALTH_BIND", raising=False)
    loaded = [object() for _ in range(10)]
    gc.unfreeze()
    try:
        gunicorn_settings.post_worker_init(worker=None)
        assert gc.get_freeze_count() >= len(loaded)
    finally:
        gc.unfreeze()  # the test process's objects go back to the collector
