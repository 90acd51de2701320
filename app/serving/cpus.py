"""How many CPUs this process may really use: what the gunicorn settings size the workers by.

`os.cpu_count()` counts the host's CPUs. A container or a systemd unit often
gets fewer: a CPU affinity mask (taskset, cpuset: `os.sched_getaffinity`) and
a CFS quota (cgroup v2 `cpu.max`, cgroup v1 `cpu.cfs_quota_us` over
`cpu.cfs_period_us`). Workers sized by the host count would fight over the
quota and be throttled. The answer is the smaller of the two, a quota of 1.5
CPUs counting as 2, and never less than 1.
"""

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def usable_cpus(
    cgroup_root: Path = CGROUP_ROOT,
    proc_self_cgroup: Path = PROC_SELF_CGROUP,
    affinity: set[int] | None = None,
) -> int:
    """The CPUs this process may run on, capped by the CPU quota of its cgroup (if any)."""
    count = len(os.sched_getaffinity(0) if affinity is None else affinity)
    quota = cpu_quota(cgroup_root, proc_self_cgroup)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(count, 1)


def cpu_quota(cgroup_root: Path, proc_self_cgroup: Path) -> float | None:
    """The tightest CPU quota, in CPUs, over the process's cgroup and its ancestors; None if unlimited."""
    quotas = [
        quota
        for directory in cgroup_directories(cgroup_root, proc_self_cgroup)
        if (quota := read_quota(directory)) is not None
    ]
    return min(quotas, default=None)


def cgroup_directories(cgroup_root: Path, proc_self_cgroup: Path) -> list[Path]:
    """Where the quota files of this process's cgroups may be: its own directories, then their parents.

    /proc/self/cgroup has `0::/path` for cgroup v2 and `N:cpu,cpuacct:/path` for
    v1. In a container the path may be the host's while the container's own
    cgroup is mounted at the root: directories that do not exist are skipped and
    the root itself is always looked at.
    """
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    mounts = [cgroup_root]
    relative_paths = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            relative_paths.append((cgroup_root, path))
        elif "cpu" in controllers.split(","):
            for name in (controllers, "cpu", "cpu,cpuacct"):
                mount = cgroup_root / name
                mounts.append(mount)
                relative_paths.append((mount, path))
    directories = []
    for mount, path in relative_paths:
        directory = mount / path.strip("/")
        while directory != mount and directory.is_relative_to(mount):
            directories.append(directory)
            directory = directory.parent
    return [directory for directory in dict.fromkeys([*directories, *mounts]) if directory.is_dir()]


def read_quota(directory: Path) -> float | None:
    try:
        # cgroup v2: "max 100000" (no limit) or "150000 100000": quota then period, in µs.
        quota, period = (directory / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except FileNotFoundError:
        pass
    try:
        # cgroup v1: -1 is no limit.
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except FileNotFoundError:
        return None
    return None if quota <= 0 or period <= 0 else quota / period
