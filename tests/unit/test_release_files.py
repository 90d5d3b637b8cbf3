"""The release files agree: galaxy.yml's version is the newest release of changelogs/changelog.yaml and the
first version heading of CHANGELOG.rst (antsibull-changelog writes both), the execution environment files name
that version, and COPYING holds the licence that galaxy.yml names and the file headers cite."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from ansible.module_utils.compat.version import LooseVersion

ROOT = Path(__file__).resolve().parents[2]


def galaxy() -> dict:
    return yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))


def newest_changelog_release() -> str:
    releases = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))["releases"]
    assert releases, "changelogs/changelog.yaml records no release"
    return max(releases, key=LooseVersion)


def first_rst_version() -> str:
    text = (ROOT / "CHANGELOG.rst").read_text(encoding="utf-8")
    # a section heading is the version line underlined with '='
    match = re.search(r"^v(?P<version>\d+\.\d+\.\d+\S*)\n=+$", text, re.MULTILINE)
    assert match, "CHANGELOG.rst has no version heading"
    return match.group("version")


def test_galaxy_changelog_yaml_and_rst_name_the_same_version():
    version = galaxy()["version"]
    assert newest_changelog_release() == version, "galaxy.yml and changelogs/changelog.yaml disagree"
    assert first_rst_version() == version, "galaxy.yml and CHANGELOG.rst disagree (run antsibull-changelog release)"


def test_execution_environment_files_follow_galaxy_version():
    version = galaxy()["version"]
    tarball = f"sms-remediation-{version}.tar.gz"
    assert tarball in (ROOT / "meta" / "ee-requirements.yml").read_text(encoding="utf-8")
    for name in ("execution-environment.yml", "README.md"):
        tags = re.findall(r"sms-remediation-ee:([0-9][^`\s]*)", (ROOT / name).read_text(encoding="utf-8"))
        assert tags and set(tags) == {version}, (name, tags)


def test_copying_is_the_licence_galaxy_names():
    assert galaxy()["license"] == ["GPL-3.0-or-later"]
    text = (ROOT / "COPYING").read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text
    assert "END OF TERMS AND CONDITIONS" in text        # the full text, not a pointer to it
