"""Deterministic helpers: seeded random streams, file times, the logs' Pacific time zone."""

from __future__ import annotations

import calendar
import datetime as _dt
import random


def _rng(seed, *parts) -> random.Random:
    # random.Random(str) hashes the string with SHA-512: stable across runs and Python processes.
    return random.Random("|".join([str(seed), *map(str, parts)]))


def _pck_bytes(seed, package_id: str, pck_size) -> bytes:
    """The compressed copy of a package: the same bytes at every site that holds it."""
    rng = _rng(seed, "pck", package_id)
    size = rng.randint(pck_size[0], pck_size[1])
    # A made-up header so a person looking at the file sees what it is, then noise.
    header = f"SMS-LAB-PCK {package_id}\r\n".encode("ascii")
    return (header + rng.randbytes(max(0, size - len(header))))[:size] if size else b""


def _file_time(seed, *parts) -> float:
    """A deterministic modification time in October 1999 (UTC)."""
    rng = _rng(seed, "mtime", *parts)
    base = calendar.timegm((1999, 10, 1, 0, 0, 0))
    return base + rng.randint(0, 20 * 86400)


def _local_to_utc(moment: _dt.datetime) -> float:
    """Pacific local time (the logs' time zone) -> POSIX time: UTC-7 in daylight time, else UTC-8."""
    return calendar.timegm(moment.timetuple()) + (7 if _us_dst(moment) else 8) * 3600 \
        + moment.microsecond / 1e6


def _pck_time(seed, site_code: str, package_id: str) -> float:
    """When a compressed copy arrived, for sites without a log: 1-10 Oct 1999, before any log entry."""
    rng = _rng(seed, "pck-time", site_code, package_id)
    return calendar.timegm((1999, 10, 1, 0, 0, 0)) + rng.randint(0, 10 * 86400 - 1)


def _us_dst(moment: _dt.datetime) -> bool:
    """US daylight saving rule of 1987-2006: first Sunday of April to last Sunday of October."""
    year = moment.year
    april = _dt.datetime(year, 4, 1, 2)
    start = april + _dt.timedelta(days=(6 - april.weekday()) % 7)
    october_end = _dt.datetime(year, 10, 31, 2)
    end = october_end - _dt.timedelta(days=(october_end.weekday() + 1) % 7)
    return start <= moment < end
