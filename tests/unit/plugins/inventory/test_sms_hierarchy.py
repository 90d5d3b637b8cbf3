"""The sms_hierarchy inventory plugin without a network: its reader is replaced by rows as the central site
answers them, and the plugin is run as ansible-core runs it (InventoryData, DataLoader, a config file)."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

from ansible_collections.sms.remediation.plugins.plugin_utils import _hierarchy_source
from ansible_collections.sms.remediation.plugins.plugin_utils._hierarchy_source import HierarchySourceError

SECRET = "Very-Secret-99"


def row(code, parent="", server=None, type_=2, build=1380):
    return {"SiteCode": code, "ReportingSiteCode": parent, "ServerName": server or f"SMS{code}", "Type": type_,
            "Version": "2.0", "BuildNumber": build, "InstallDir": "C:\\SMS", "SiteName": f"Site {code}", "Status": 1}


DEMO = [row("600", build=1493), row("610", "600"), row("620", "600"), row("630", "600")]


class Reader:
    """Stands in for the transport: records what it was asked, answers rows or fails."""

    def __init__(self, sites=None, fail=None, site_code="600"):
        self.sites, self.fail, self.site_code, self.calls = sites, fail, site_code, []

    def __call__(self, settings, site_code):
        self.calls.append((settings, site_code))
        if self.fail:
            raise HierarchySourceError(settings.host, "hierarchy", self.fail)
        return {"site_code": site_code or self.site_code, "sites": self.sites, "provider_location": None}


@pytest.fixture
def run(tmp_path, monkeypatch):
    def run_plugin(config: dict, reader: Reader, transport="msrpc", name="corp.sms_hierarchy.yml", cache=True):
        monkeypatch.setitem(_hierarchy_source.READERS, transport, reader)     # the dict the plugin uses
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"plugin": "sms.remediation.sms_hierarchy", "transport": transport, **config}))
        plugin = inventory_loader.get("sms.remediation.sms_hierarchy")
        inventory = InventoryData()
        assert plugin.verify_file(str(path))
        plugin.parse(inventory, DataLoader(), str(path), cache=cache)
        if plugin.get_option("cache"):
            plugin.update_cache_if_changed()              # what ansible-core's InventoryManager does next
        return inventory, plugin
    return run_plugin


def members(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts())


def test_only_sms_hierarchy_files_are_taken(tmp_path):
    plugin = inventory_loader.get("sms.remediation.sms_hierarchy")
    for name, taken in (("a.sms_hierarchy.yml", True), ("a.sms_hierarchy.yaml", True), ("a.yml", False),
                        ("sms_hierarchy.yml.bak", False)):
        (tmp_path / name).write_text("plugin: sms.remediation.sms_hierarchy\n")
        assert plugin.verify_file(str(tmp_path / name)) is taken, name


def test_demo_hierarchy_hosts_groups_and_vars(run):
    reader = Reader(DEMO)
    inventory, _plugin = run({"server": "smscentral.corp.example", "user": "smsadmin", "password": SECRET,
                              "domain": "CORP", "hostnames": ["server_name_lower"],
                              "server_vars": {"SMS610": {"q244405_msrpc_port": 139}}}, reader)
    [(settings, site_code)] = reader.calls
    assert settings.address == "smscentral.corp.example" and settings.domain == "CORP" and site_code is None
    assert SECRET not in repr(settings)
    assert members(inventory, "sms_site_servers") == ["sms600", "sms610", "sms620", "sms630"]
    assert members(inventory, "sms_children_of_600") == ["sms610", "sms620", "sms630"]
    assert members(inventory, "sms_site_620") == ["sms620"] and members(inventory, "sms_secondary") == []
    host = inventory.get_host("sms610").vars
    assert host["q244405_transport"] == "msrpc" and host["ansible_connection"] == "local"
    assert host["ansible_host"] == "SMS610" and host["q244405_msrpc_port"] == 139
    assert host["q244405_msrpc_user"] == "smsadmin" and host["q244405_msrpc_password"] == SECRET
    assert (host["sms_site_code"], host["sms_parent_site_code"], host["sms_site_depth"]) == ("610", "600", 1)
    assert inventory.get_host("sms600").vars["sms_fixed_by_build"] is True          # SP2: listed, marked
    assert inventory.get_host("sms600").vars["sms_child_site_codes"] == ["610", "620", "630"]


def test_three_tiers_over_winrm_with_compose_and_keyed_groups(run):
    sites = [row("A00", build=1493), row("B00", "A00"), row("C01", "B00", type_=1), row("C02", "B00", type_=1)]
    inventory, _plugin = run({"server": "smsa00", "site_code": "A00", "user": "CORP\\smsadmin", "password": SECRET,
                              "credentials_to_hosts": False,
                              "compose": {"ansible_host": "sms_server_name | lower ~ '.corp.example'"},
                              "keyed_groups": [{"key": "sms_site_depth | string", "prefix": "sms_tier"}],
                              "groups": {"sms_affected": "not sms_fixed_by_build"}}, Reader(sites), transport="winrm")
    assert members(inventory, "sms_secondary") == ["SMSC01", "SMSC02"]
    assert members(inventory, "sms_children_of_b00") == ["SMSC01", "SMSC02"]
    assert members(inventory, "sms_tier_2") == ["SMSC01", "SMSC02"]
    assert members(inventory, "sms_affected") == ["SMSB00", "SMSC01", "SMSC02"]
    host = inventory.get_host("SMSC01").vars
    assert host["ansible_host"] == "smsc01.corp.example" and host["ansible_connection"] == "winrm"
    assert host["ansible_port"] == 5986 and "ansible_password" not in host


def test_server_vars_file_is_a_lab_inventory_and_reaches_the_central(run, tmp_path):
    (tmp_path / "lab.yml").write_text(yaml.safe_dump({"all": {"children": {"sms_site_servers": {"hosts": {
        "sms600": {"ansible_host": "127.0.0.1", "q244405_msrpc_wmi_address": "127.0.0.9",
                   "q244405_msrpc_user": "Administrator", "q244405_msrpc_password": SECRET},
        "sms610": {"ansible_host": "127.0.0.1", "q244405_msrpc_port": 4455}}}}}}))
    reader = Reader(DEMO)
    inventory, _plugin = run({"server": "sms600", "hostnames": ["server_name_lower"], "server_vars_file": "lab.yml"},
                             reader)
    settings = reader.calls[0][0]
    assert (settings.address, settings.wmi_address, settings.user) == ("127.0.0.1", "127.0.0.9", "Administrator")
    assert inventory.get_host("sms610").vars["q244405_msrpc_port"] == 4455
    assert inventory.get_host("sms620").vars["ansible_host"] == "SMS620"       # not in the file: its ServerName


def test_unreachable_central_without_strict_warns_and_adds_no_host(run, monkeypatch):
    warnings = []
    monkeypatch.setattr("ansible.utils.display.Display.warning", lambda _self, msg, *args, **kwargs: warnings.append(msg))
    inventory, _plugin = run({"server": "sms600", "password": SECRET}, Reader(fail="WMI: nothing answers on TCP 135"))
    assert not inventory.hosts
    assert warnings == ["sms_hierarchy: the central site server could not be read: sms600: hierarchy: WMI: nothing "
                        "answers on TCP 135 (strict is off: no hosts from this source)"]


def test_unreachable_central_with_strict_fails_naming_it(run):
    with pytest.raises(AnsibleParserError) as caught:
        run({"server": "sms600", "strict": True, "password": SECRET}, Reader(fail="nothing answers on TCP port 135"))
    assert "central site server could not be read: sms600: hierarchy: nothing answers on TCP port 135" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("sites, message", [
    ([row("600"), row("610", "620"), row("620", "610")], "sites 610 -> 620 -> 610 form a parent cycle"),
    ([row("600"), row("610", "6X0")], "site 610 reports to site 6X0"),
    ([row("600"), row("610", "600", server=" ")], "site 610 (Site 610) has no server name"),
    ([row("600"), row("610", "600", server="SMS600")], "sites 600 and 610 are both on server SMS600"),
])
def test_a_bad_hierarchy_fails_naming_the_site(run, sites, message):
    with pytest.raises(AnsibleParserError) as caught:
        run({"server": "sms600"}, Reader(sites))
    assert "the hierarchy read from sms600 is refused" in str(caught.value) and message in str(caught.value)


def test_the_cache_answers_the_second_run(run, tmp_path):
    config = {"server": "sms600", "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
              "cache_connection": str(tmp_path / "cache")}
    first = Reader(DEMO)
    run(config, first, cache=False)                  # refresh: read, then write the cache
    second = Reader(fail="must not be asked")
    inventory, _plugin = run(config, second, cache=True)
    assert first.calls and not second.calls
    assert members(inventory, "sms_children_of_600") == ["SMS610", "SMS620", "SMS630"]


def test_an_empty_server_is_refused(run):
    with pytest.raises(AnsibleParserError, match="option server is empty"):
        run({"server": "  "}, Reader(DEMO))


def test_credentials_are_templated_from_the_environment(run, monkeypatch):
    monkeypatch.setenv("SMS_TEST_PASSWORD", SECRET)
    monkeypatch.setenv("SMS_HIERARCHY_USER", "smsadmin")          # an option's own environment variable
    reader = Reader(DEMO)
    inventory, _plugin = run({"server": "sms600", "password": "{{ lookup('ansible.builtin.env', 'SMS_TEST_PASSWORD') }}"},
                             reader)
    settings = reader.calls[0][0]
    assert (settings.user, settings.password) == ("smsadmin", SECRET)
    assert inventory.get_host("SMS610").vars["q244405_msrpc_password"] == SECRET


def test_the_central_read_takes_the_variables_as_the_transport_does(run):
    """A password keeps its spaces; "false" from a file is false; the DCOM level the docs advise reaches the read."""
    reader = Reader(DEMO)
    inventory, _plugin = run({"server": "sms600", "user": "smsadmin", "password": " " + SECRET + " ",
                              "hostnames": ["server_name_lower"],
                              "server_vars": {"sms600": {"q244405_msrpc_allow_ntlmv1": "false",
                                                         "q244405_msrpc_dcom_auth_level": "connect"}}}, reader)
    settings = reader.calls[0][0]
    assert settings.password == " " + SECRET + " " and settings.allow_ntlmv1 is False
    assert settings.dcom_auth_level == "connect"
    assert inventory.get_host("sms610").vars["q244405_msrpc_password"] == " " + SECRET + " "
