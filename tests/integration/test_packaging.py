"""The collection as users get it: `ansible-galaxy collection build`, install the tarball offline into a
clean collections path, then run the playbook by its FQCN from there (not from the repository) against
the demo lab, and render a module's documentation from the installed copy."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile

import pytest

from lab_harness import ROOT, SCENARIOS, VENV_BIN, make_lab, parse_recap

FORBIDDEN_PREFIXES = (".venv/", "lab-state/", "tests/output/", ".git/", ".hypothesis/", ".pytest_cache/",
                      "benchmarks/output/", "reports/")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("packaging")
    build = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--force",
                            "--output-path", str(tmp / "dist"), str(ROOT)],
                           capture_output=True, text=True, check=False, cwd=ROOT)
    assert build.returncode == 0, build.stdout + build.stderr
    tarballs = sorted((tmp / "dist").glob("sms-remediation-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    collections = tmp / "collections"
    # a clean collections path: the repository's own collection root must not count as "already installed"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections))
    install = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps",
                              "--force", "-p", str(collections), str(tarballs[0])],
                             capture_output=True, text=True, check=False, cwd=tmp, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (collections / "ansible_collections" / "sms" / "remediation" / "MANIFEST.json").is_file(), install.stdout
    return tmp, tarballs[0], collections


def installed_env(lab, collections) -> dict:
    env = dict(lab.env)
    # the installed copy only (ansible.windows comes from the venv's `ansible` bundle in site-packages)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    return env


def test_tarball_leaves_out_local_state(installed):
    _tmp, tarball, _collections = installed
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    for required in ("MANIFEST.json", "playbooks/remediate.yml", "roles/q244405/tasks/main.yml",
                     "plugins/filter/batches.py", "meta/runtime.yml", "execution-environment.yml"):
        assert required in names, required
    bad = [n for n in names if n.startswith(FORBIDDEN_PREFIXES) or "__pycache__" in n or n.endswith(".pyc")]
    assert not bad, bad[:20]


def test_installed_playbook_runs_in_check_mode(installed, tmp_path):
    tmp, _tarball, collections = installed
    root = collections / "ansible_collections" / "sms" / "remediation"
    assert (root / "playbooks" / "remediate.yml").is_file()
    lab = make_lab(SCENARIOS / "demo.yml", tmp_path / "lab")
    try:
        before = lab.state_hash()
        variables = {"q244405_report_dir": str(lab.report_dir)}
        # the playbook by its FQCN, from another folder than the repository, with the installed collection
        done = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(lab.inventory), "sms.remediation.remediate",
                               "--check", "-e", json.dumps(variables)],
                              capture_output=True, text=True, check=False, cwd=tmp, timeout=300,
                              env=installed_env(lab, collections))
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-5000:]
        recap = parse_recap(done.stdout)
        assert {"sms600", "sms610", "sms620", "sms630"} <= set(recap), output[-3000:]
        assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in recap.values()), recap
        assert lab.state_hash() == before, "--check changed the lab"
        report = json.loads(lab.latest_report("check", "json").read_text(encoding="utf-8"))
        assert report["totals"]["leftovers_would_remove"] == 5
    finally:
        lab.stop()


def test_module_doc_renders_from_installed_collection(installed, tmp_path):
    tmp, _tarball, collections = installed
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"))
    env.pop("ANSIBLE_CONFIG", None)
    done = subprocess.run([str(VENV_BIN / "ansible-doc"), "sms.remediation.site_facts"],
                          capture_output=True, text=True, check=False, cwd=tmp, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "site_facts" in done.stdout
    assert str(collections) in done.stdout, done.stdout[:400]
    assert "ERROR" not in done.stderr, done.stderr


def test_inventory_plugin_is_built_and_its_doc_renders_from_installed_collection(installed, tmp_path):
    # issue 21: sms_hierarchy ships in the tarball with its helpers and script, and ansible-doc -t inventory
    # shows it from the installed copy with the two-tier and three-tier examples
    tmp, tarball, collections = installed
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"plugins/inventory/sms_hierarchy.py", "plugins/module_utils/hierarchy.py",
            "plugins/module_utils/report_tree.py", "plugins/plugin_utils/_hierarchy_source.py",
            "plugins/plugin_utils/powershell/sms_hierarchy.ps1",
            "lab/inventory/demo-msrpc.sms_hierarchy.yml"} <= names
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"))
    env.pop("ANSIBLE_CONFIG", None)
    done = subprocess.run([str(VENV_BIN / "ansible-doc"), "-t", "inventory", "sms.remediation.sms_hierarchy"],
                          capture_output=True, text=True, check=False, cwd=tmp, env=env)
    assert done.returncode == 0 and "ERROR" not in done.stderr, done.stdout + done.stderr
    assert str(collections) in done.stdout, done.stdout[:400]
    examples = done.stdout[done.stdout.index("EXAMPLES:"):]
    assert "Two tiers" in examples and "Three tiers" in examples and "plugin: sms.remediation.sms_hierarchy" in examples
