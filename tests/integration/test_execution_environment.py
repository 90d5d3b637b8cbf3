"""execution-environment.yml: `ansible-builder create` writes the build context (no container engine),
with the collection tarball, ansible.windows, pywinrm and jmespath in it."""

from __future__ import annotations

import shutil
import subprocess

from lab_harness import ROOT, VENV_BIN


def test_ansible_builder_create(tmp_path):
    work = tmp_path / "ee"
    (work / "meta").mkdir(parents=True)
    shutil.copy(ROOT / "execution-environment.yml", work)
    for name in ("ee-requirements.yml", "ee-requirements.txt", "ee-bindep.txt"):
        shutil.copy(ROOT / "meta" / name, work / "meta")
    build = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--force",
                            "--output-path", str(work / "dist"), str(ROOT)],
                           capture_output=True, text=True, check=False, cwd=ROOT)
    assert build.returncode == 0, build.stdout + build.stderr
    context = tmp_path / "context"
    done = subprocess.run([str(VENV_BIN / "ansible-builder"), "create", "-f", "execution-environment.yml",
                           "-c", str(context), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, check=False, cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "ee-minimal" in containerfile
    assert "ansible-galaxy collection install" in containerfile
    python_reqs = (context / "_build" / "requirements.txt").read_text(encoding="utf-8")
    galaxy_reqs = (context / "_build" / "requirements.yml").read_text(encoding="utf-8")
    assert "pywinrm" in python_reqs and "jmespath" in python_reqs
    assert "ansible.windows" in galaxy_reqs
    tarball = galaxy_reqs.split("name: ", 2)[2].split()[0]
    assert (context / "_build" / tarball).is_file(), (tarball, sorted(p.name for p in (context / "_build").rglob("*")))
