"""SMS 2.0 versions, service packs and the Q244405 affected / fixed state."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Q244405State",
    "SmsVersion",
    "VersionError",
    "parse_version",
    "q244405_state",
    "service_pack_for",
]

# No SMS field comes close: builds are 4 digits, revisions 4 digits.
_MAX_FIELD = 65535


class VersionError(ValueError):
    """A version string is malformed or is not an SMS 2.0 version."""


@dataclass(frozen=True, order=True)
class SmsVersion:
    """A four-field SMS version (major.minor.build.revision), compared numerically."""

    major: int
    minor: int
    build: int
    revision: int

    def __str__(self) -> str:
        """Canonical form, e.g. ``2.00.1380.1000``."""
        return f"{self.major}.{self.minor:02d}.{self.build}.{self.revision:04d}"

    @property
    def sp_digit(self) -> int:
        """The service pack digit: the first of the four revision digits (KB Q213410)."""
        return (self.revision // 1000) % 10


def parse_version(text: str | None) -> SmsVersion:
    """Parse ``2.00.1380.1000`` or ``2.0.1380.1000`` (surrounding spaces allowed) into SmsVersion."""
    if text is None:
        raise VersionError("version None: a version string is required")
    if not isinstance(text, str):
        raise VersionError(f"version {text!r}: expected a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise VersionError(f"version {text!r}: empty")
    fields = stripped.split(".")
    if len(fields) != 4:
        raise VersionError(
            f"version {text!r}: 4 fields expected (major.minor.build.revision), got {len(fields)}"
        )
    numbers = []
    for name, field in zip(("major", "minor", "build", "revision"), fields):
        if field.startswith("-"):
            raise VersionError(f"version {text!r}: {name} field {field!r} is negative")
        # str.isdigit accepts e.g. superscripts and other scripts' digits: ASCII only.
        if not field or not field.isascii() or not field.isdigit():
            raise VersionError(f"version {text!r}: {name} field {field!r} is not a number")
        if len(field) > 5 or int(field) > _MAX_FIELD:
            raise VersionError(
                f"version {text!r}: {name} field {field!r} is too large (max {_MAX_FIELD})"
            )
        numbers.append(int(field))
    return SmsVersion(*numbers)


def _as_version(value: str | SmsVersion) -> SmsVersion:
    return value if isinstance(value, SmsVersion) else parse_version(value)


def service_pack_for(version: str | SmsVersion, table: dict) -> str:
    """Name of the service pack (``RTM``, ``SP1``, ...) of an SMS 2.0 site version.

    The highest table entry whose version is <= ``version``. Raises VersionError
    for a version below RTM or whose major is not 2.
    """
    v = _as_version(version)
    packs = [(parse_version(sp["version"]), sp["name"]) for sp in table["service_packs"]]
    packs.sort()
    if v.major != 2 or v < packs[0][0]:
        raise VersionError(f"version {v}: not an SMS 2.0 version (RTM is {packs[0][0]})")
    # Entries are compared as four numbers: SP1 (1380.1000) and SP2+ (1493.x000) differ by
    # build, SP2..SP5 (same build 1493) by the revision's first digit.
    name = packs[0][1]
    for sp_version, sp_name in packs:
        if sp_version <= v:
            name = sp_name
    return name


def _sp_index(name: str, table: dict) -> int:
    names = [sp["name"] for sp in sorted(table["service_packs"], key=lambda s: parse_version(s["version"]))]
    if name not in names:
        raise VersionError(f"service pack {name!r}: not in the table's service_packs {names}")
    return names.index(name)


@dataclass(frozen=True)
class Q244405State:
    """Whether a site is affected by Q244405 and what fixed it.

    ``affected`` is None when unknown; ``fixed_by`` is ``"sp2"``, ``"hotfix"`` or None.
    """

    affected: bool | None
    fixed_by: str | None
    service_pack: str | None
    reason: str


def q244405_state(
    site_version: str | None,
    distmgr_version: str | None,
    hotfix_log_present: bool,
    table: dict,
) -> Q244405State:
    """Decide the Q244405 state from the site version, Distmgr.dll version and hotfix log.

    A known Distmgr.dll version decides; the hotfix log counts only when that version cannot be read."""
    threshold = parse_version(table["hotfix_min_distmgr_version"])
    first_fixed = table["first_fixed_service_pack"]

    # Site version -> service pack (or the reason it is unknown).
    sp_name: str | None = None
    site_v: SmsVersion | None = None
    site_problem: str | None = None
    if site_version is None or (isinstance(site_version, str) and not site_version.strip()):
        site_problem = "site version missing"
    else:
        try:
            site_v = parse_version(site_version)
            sp_name = service_pack_for(site_v, table)
        except VersionError as exc:
            site_v = None
            site_problem = f"site version unusable ({exc})"

    # Distmgr.dll version (or the reason it is unknown).
    dm_v: SmsVersion | None = None
    dm_problem: str | None = None
    if distmgr_version is None or (isinstance(distmgr_version, str) and not distmgr_version.strip()):
        dm_problem = "Distmgr.dll version unknown"
    else:
        try:
            dm_v = parse_version(distmgr_version)
        except VersionError as exc:
            dm_problem = f"Distmgr.dll version unusable ({exc})"

    hotfix_by_dll = dm_v is not None and dm_v >= threshold
    hotfix_log_name = table.get("hotfix_log_name", "hotfix log")

    if sp_name is not None:
        label = f"SMS 2.0 {sp_name} ({site_v})"
        if _sp_index(sp_name, table) >= _sp_index(first_fixed, table):
            return Q244405State(False, "sp2", sp_name, f"{label}: fixed by {first_fixed} or later")
        if hotfix_by_dll:
            return Q244405State(
                False, "hotfix", sp_name,
                f"{label} with Distmgr.dll {dm_v} >= {threshold}: fixed by the hotfix",
            )
        if dm_v is not None:
            # A known version decides: the log only says a hotfix ran once (the transaction writes it
            # too, and a rolled-back or replaced DLL leaves it behind).
            ignored = f" ({hotfix_log_name} present, but the file version decides)" if hotfix_log_present else ""
            return Q244405State(
                True, None, sp_name, f"{label} with Distmgr.dll {dm_v} < {threshold}{ignored}: affected"
            )
        if hotfix_log_present:
            return Q244405State(
                False, "hotfix", sp_name,
                f"{label} with {hotfix_log_name} present (Distmgr.dll: {dm_problem}): fixed by the hotfix",
            )
        return Q244405State(
            True, None, sp_name,
            f"{label}, {dm_problem}, no {hotfix_log_name}: affected",
        )

    # Site version unknown: only the Distmgr.dll / hotfix log evidence can still be known.
    first_fixed_v = min(
        parse_version(sp["version"]) for sp in table["service_packs"] if sp["name"] == first_fixed
    )
    if dm_v is not None and dm_v >= first_fixed_v:
        return Q244405State(
            False, "sp2", None,
            f"{site_problem}; Distmgr.dll {dm_v} >= {first_fixed} ({first_fixed_v}): "
            f"fixed by {first_fixed} or later",
        )
    if hotfix_by_dll:
        return Q244405State(
            False, "hotfix", None,
            f"{site_problem}; Distmgr.dll {dm_v} >= {threshold}: fixed by the hotfix",
        )
    if hotfix_log_present and dm_v is None:
        return Q244405State(
            False, "hotfix", None,
            f"{site_problem}; {dm_problem}; {hotfix_log_name} present: fixed by the hotfix"
        )
    dm_text = f"Distmgr.dll {dm_v} < {threshold}" if dm_v is not None else dm_problem
    return Q244405State(None, None, None, f"{site_problem}; {dm_text}: unknown")
