"""Issue 6, part 4: --check across a 200-host lab fleet changes nothing, byte for byte.

The fleet is smslab.scenario.generate_fleet(200, seed): every kind of leftover, mixed builds and
platforms, secondary sites. remediate.yml runs with --check --diff and 20 forks; the state folder of
every host (host.json and all files) is hashed before and after and must be identical.

An unchanged state alone proves little: every lab handler refuses a change in check mode. So the lab's request
log must also show that the controller sent each host its read-only probe and nothing that changes a host (no
win_regedit, win_service, win_copy, win_command, no compressed_package or hotfix_transaction script, no module
without check mode). test_check_mode_request_log.py shows that this assertion catches a controller broken on
purpose.

It was marked slow while the role ran a task per stage (4m41s); with one remediation task per host the
whole test takes about 30 s on the 2-core machine here, so it runs with every test run.
``SMS_FLEET_SIZE`` picks another fleet size (e.g. 20 for a quick look).
"""

from __future__ import annotations

import os

from lab_harness import tree_digest
from request_log import changes_sent_in_check_mode, hosts_without_a_probe
from smslab.scenario import generate_fleet

FLEET_SIZE = int(os.environ.get("SMS_FLEET_SIZE", "200"))
SEED = 6


def test_check_mode_leaves_every_host_byte_identical(lab_factory):
    lab = lab_factory(generate_fleet(FLEET_SIZE, SEED), "fleet")
    hosts = lab.host_names
    assert len(hosts) == FLEET_SIZE
    before = {host: tree_digest(lab.hosts_dir / host) for host in hosts}
    run = lab.playbook("--check", "--diff", "--forks", "20", timeout=3600)
    assert set(hosts) <= set(run.recap), run.stdout[-3000:]
    unreachable = {h: c for h, c in run.recap.items() if c.get("unreachable")}
    assert not unreachable, unreachable
    after = {host: tree_digest(lab.hosts_dir / host) for host in hosts}
    changed = sorted(host for host in hosts if before[host] != after[host])
    assert changed == [], f"--check changed {len(changed)} host(s): {changed[:10]}"
    # what was sent, not only what the lab let change
    assert hosts_without_a_probe(lab.state_dir, hosts) == []
    sent = changes_sent_in_check_mode(lab.state_dir, hosts)
    assert sent == [], f"--check sent {len(sent)} change(s): {sent[:10]}"
    # it did look: the check run predicts changes on the affected hosts
    assert sum(c.get("changed", 0) for h, c in run.recap.items() if h in hosts) > 0, run.stdout[-3000:]
    assert lab.reports("check", "json"), "no check report written"
