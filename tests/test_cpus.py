"""app/serving/cpus.py: the CPUs the process may use, from fake cgroup trees and affinity masks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.serving.cpus import usable_cpus
from tests.http.server import PROJECT_ROOT

EIGHT = set(range(8))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def proc_cgroup(tmp_path) -> Path:
    return tmp_path / "proc-self-cgroup"


def test_without_cgroup_files_the_affinity_mask_counts(tmp_path, proc_cgroup):
    assert usable_cpus(tmp_path / "none", proc_cgroup, affinity={0, 3, 5}) == 3


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", 8),
        ("200000 100000\n", 2),
        ("150000 100000\n", 2),
        ("50000 100000\n", 1),
        ("1600000 100000\n", 8),
    ],
)
def test_cgroup_v2_quota_at_the_root(tmp_path, proc_cgroup, cpu_max, expected):
    write(tmp_path / "cpu.max", cpu_max)
    write(proc_cgroup, "0::/\n")
    assert usable_cpus(tmp_path, proc_cgroup, affinity=EIGHT) == expected


def test_cgroup_v2_the_tightest_of_the_process_cgroup_and_its_parents(tmp_path, proc_cgroup):
    write(proc_cgroup, "0::/system.slice/openim.service\n")
    write(tmp_path / "cpu.max", "max 100000\n")
    write(tmp_path / "system.slice" / "cpu.max", "300000 100000\n")
    write(tmp_path / "system.slice" / "openim.service" / "cpu.max", "max 100000\n")
    assert usable_cpus(tmp_path, proc_cgroup, affinity=EIGHT) == 3


def test_cgroup_v2_host_path_not_mounted_in_the_container_falls_back_to_the_root(tmp_path, proc_cgroup):
    write(proc_cgroup, "0::/kubepods/pod1234/abcd\n")
    write(tmp_path / "cpu.max", "100000 100000\n")
    assert usable_cpus(tmp_path, proc_cgroup, affinity=EIGHT) == 1


def test_cgroup_v1_cfs_quota(tmp_path, proc_cgroup):
    write(proc_cgroup, "9:name=systemd:/\n4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n")
    group = tmp_path / "cpu,cpuacct" / "docker" / "abc"
    write(group / "cpu.cfs_quota_us", "250000\n")
    write(group / "cpu.cfs_period_us", "100000\n")
    assert usable_cpus(tmp_path, proc_cgroup, affinity=EIGHT) == 3


def test_cgroup_v1_no_quota_is_minus_one(tmp_path, proc_cgroup):
    write(proc_cgroup, "4:cpu,cpuacct:/\n")
    write(tmp_path / "cpu" / "cpu.cfs_quota_us", "-1\n")
    write(tmp_path / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert usable_cpus(tmp_path, proc_cgroup, affinity=EIGHT) == 8


def test_the_affinity_mask_caps_a_larger_quota(tmp_path, proc_cgroup):
    write(proc_cgroup, "0::/\n")
    write(tmp_path / "cpu.max", "400000 100000\n")
    assert usable_cpus(tmp_path, proc_cgroup, affinity={2, 3}) == 2


def test_defaults_read_this_process():
    assert 1 <= usable_cpus() <= len(os.sched_getaffinity(0))


def test_gunicorn_default_workers_follow_the_affinity_mask():
    """gunicorn.conf.py under `taskset` to one CPU: three workers, whatever the host has."""
    code = (
        "import os, runpy; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "print(runpy.run_path('gunicorn.conf.py')['workers'])"
    )
    env = {key: value for key, value in os.environ.items() if key != "OPENIM_WORKERS"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
