# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# over 500 lines: DOCUMENTATION and EXAMPLES are most of it (two-tier and three-tier hierarchies, both transports)

from __future__ import annotations

DOCUMENTATION = r"""
name: sms_hierarchy
short_description: The SMS 2.0 hierarchy as an inventory, read from the central site's SMS Provider
version_added: 0.4.0
author:
  - SMS Remediation Team (@sms-remediation)
description:
  - "Reads every site of an SMS 2.0 hierarchy from the central site server's SMS Provider (WMI C(root\\SMS)
    C(SMS_ProviderLocation) for the site code when O(site_code) is not given, then C(SMS_Site) in
    C(root\\SMS\\site_<code>): SiteCode, SiteName, ServerName, ReportingSiteCode, Type, Version, BuildNumber,
    InstallDir, Status) and makes one host per site server, so the fleet, the children-first order of
    C(playbooks/remediate.yml) and its origin evidence come from the same data."
  - Over O(transport=msrpc) with the msrpc transport's WMI client (DCOM, TCP 135; Windows NT 4.0 / 2000); over
    O(transport=winrm) with the collection's read-only script C(sms_hierarchy.ps1) run through pywinrm.
  - The configuration file name must end with C(.sms_hierarchy.yml) or C(.sms_hierarchy.yaml).
  - "Each host gets the variables the role uses to reach it (C(q244405_transport) and, for msrpc,
    C(ansible_connection=local) and C(q244405_msrpc_user), C(_password), C(_domain); for winrm C(ansible_user),
    C(ansible_password), C(ansible_port), C(ansible_winrm_*)), C(ansible_host) (the ServerName unless
    O(server_vars) says otherwise), and the hierarchy's own: C(sms_site_code), C(sms_parent_site_code),
    C(sms_site_name), C(sms_server_name), C(sms_site_type) (primary or secondary), C(sms_site_version),
    C(sms_site_build), C(sms_site_install_dir), C(sms_site_status), C(sms_site_depth) (0 for the queried site),
    C(sms_child_site_codes) and C(sms_fixed_by_build) (true from SP2, build 1493: the fix is in, the probe may be
    skipped, but such a site is still the origin of its children's packages, so it stays in the inventory)."
  - "Groups: O(group) (every host; C(sms_site_servers) is what remediate.yml targets), C(sms_site_<code>),
    C(sms_primary), C(sms_secondary), C(sms_children_of_<code>) (site codes in lower case), so
    C(ansible-inventory --graph) shows the hierarchy."
  - "Refused with the site named (the inventory fails): a parent cycle, a parent that SMS_Site does not list, a
    site without a server name, two sites on one server. The central site unreachable: with O(strict) the
    inventory fails; without, a warning and no hosts."
options:
  plugin:
    description: The name of this plugin.
    required: true
    type: str
    choices: [sms.remediation.sms_hierarchy]
  server:
    description:
      - The central site server (or any primary site server, whose site and the sites beneath it are listed).
      - A name or address; when O(server_vars) has an entry for it, that entry's C(ansible_host) (and, for msrpc,
        C(q244405_msrpc_wmi_address)) say where it answers, and its credentials win over the plugin's.
      - May be a template.
    type: str
    required: true
    env:
      - name: SMS_HIERARCHY_SERVER
  site_code:
    description:
      - The queried site's code; empty to discover it from C(root\SMS) C(SMS_ProviderLocation) (the provider
        for the local site). May be a template.
    type: str
    default: ""
  transport:
    description: How to reach the central site server and, by default, every site server (C(q244405_transport)).
    type: str
    choices: [msrpc, winrm]
    default: msrpc
  user:
    description:
      - The account (a local administrator of the site servers). For winrm C(DOMAIN\user) or C(user@domain).
      - May be a template, for example a lookup or a vaulted variable of the config file.
    type: str
    default: ""
    env:
      - name: SMS_HIERARCHY_USER
  password:
    description:
      - The account's password. May be a template (a vault-encrypted value works). Never shown in messages.
    type: str
    default: ""
    env:
      - name: SMS_HIERARCHY_PASSWORD
  domain:
    description: The account's domain for msrpc (NTLM); the server's computer name for a local account.
    type: str
    default: ""
    env:
      - name: SMS_HIERARCHY_DOMAIN
  allow_ntlmv1:
    description: msrpc, accept NTLMv1 when NTLMv2 is refused (NT 4.0 before SP4). Given to every host too.
    type: bool
    default: false
  timeout:
    description: Seconds for the whole read (the WMI connection and queries; for winrm the operation timeout).
    type: int
    default: 30
  wmi_address:
    description: msrpc, where the central server's DCOM port 135 answers, when not at O(server). May be a template.
    type: str
  winrm_port:
    description: winrm, the port (default 5986 for https, 5985 for http).
    type: int
  winrm_scheme:
    description: winrm, http or https.
    type: str
    choices: [http, https]
    default: https
  winrm_path:
    description: winrm, the WS-Management path.
    type: str
    default: /wsman
  winrm_transport:
    description: winrm, the authentication (pywinrm's transport).
    type: str
    choices: [ntlm, kerberos, credssp, basic, certificate]
    default: ntlm
  winrm_server_cert_validation:
    description: winrm over https, whether the server's certificate is checked.
    type: str
    choices: [validate, ignore]
    default: validate
  hostnames:
    description:
      - How each site server's host is named, the first choice that gives a name.
      - C(server_name) is SMS_Site's ServerName as listed, C(server_name_lower) in lower case, C(site_code) the
        site's code.
    type: list
    elements: str
    choices: [server_name, server_name_lower, site_code]
    default: [server_name]
  group:
    description: The group every site server goes in (the one remediate.yml runs on, C(q244405_hosts)).
    type: str
    default: sms_site_servers
  credentials_to_hosts:
    description:
      - Give each host the plugin's O(user) and O(password) as its transport's credential variables.
      - Set to false to keep them out of C(ansible-inventory --list) and set them in group_vars (vault) instead.
    type: bool
    default: true
  host_vars:
    description: Variables every site server gets (after the transport's, before O(server_vars)).
    type: dict
    default: {}
  server_vars:
    description:
      - Variables per site server, keyed by its ServerName, its host name or its site code (any case), e.g.
        C(ansible_host) for a server whose NetBIOS name does not resolve, or C(q244405_msrpc_port=139) for NT 4.0.
        They win over every other variable of this plugin except the hierarchy's own C(sms_*).
    type: dict
    default: {}
  server_vars_file:
    description:
      - A YAML file of more O(server_vars) (a mapping of names to variables, or an Ansible YAML inventory whose
        hosts' variables are taken), relative to this configuration file's folder. O(server_vars) wins.
      - May be a template.
    type: str
extends_documentation_fragment:
  - constructed
  - inventory_cache
notes:
  - Reads only (WMI queries); nothing is changed on any server.
  - SMS_Site lists a site and the sites beneath it; the queried site may report to a parent that is not
    listed (it is then the root, depth 0).
"""

EXAMPLES = r"""
# --- Two tiers: a central site 600 (Windows 2000) and its child primaries, every one over msrpc -------------
# inventory/corp.sms_hierarchy.yml
plugin: sms.remediation.sms_hierarchy
server: smscentral.corp.example
transport: msrpc
domain: CORP
user: smsadmin
password: "{{ vault_sms_admin_password }}"   # a vaulted variable of this file, or a lookup
hostnames: [server_name_lower]
server_vars:
  SMS610: {q244405_msrpc_port: 139}         # NT 4.0: no SMB on TCP 445
compose:
  ansible_host: sms_server_name | lower ~ '.corp.example'

# ansible-inventory -i inventory/corp.sms_hierarchy.yml --graph
# @all:
#   |--@sms_site_servers:
#   |  |--sms600
#   |  |--sms610
#   |  |--sms620
#   |--@sms_children_of_600:
#   |  |--sms610
#   |  |--sms620
#   ...

---
# --- Three tiers: central A00, primaries B00 and D00, secondaries C01, C02 under B00 --------------------------
# The secondaries run on NT 4.0; B00 was moved to a Windows with PowerShell 5.1 and is reached over WinRM.
# inventory/three-tier.sms_hierarchy.yml
plugin: sms.remediation.sms_hierarchy
server: smsa00.corp.example
site_code: A00
transport: msrpc
domain: CORP
user: "{{ lookup('ansible.builtin.env', 'SMS_USER') }}"
password: "{{ lookup('ansible.builtin.env', 'SMS_PASSWORD') }}"
hostnames: [server_name_lower]
server_vars:
  B00:
    q244405_transport: winrm
    ansible_connection: winrm
    ansible_winrm_transport: ntlm
    ansible_port: 5986
keyed_groups:
  - key: sms_site_depth | string
    prefix: sms_tier
groups:
  sms_affected: not sms_fixed_by_build
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/sms.remediation/hierarchy
cache_timeout: 3600

# --- The lab (bash scripts/demo.sh --from-hierarchy): lab/inventory/demo-msrpc.sms_hierarchy.yml ----------------
# The lab's inventory gives each simulated server's address and port (server_vars_file).
"""

import os

from ansible.errors import AnsibleParserError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.sms.remediation.plugins.module_utils.hierarchy import (
    HierarchyError, build_hierarchy, hierarchy_vars,
)
from ansible_collections.sms.remediation.plugins.plugin_utils._hierarchy_source import (
    READERS, CentralSettings, HierarchySourceError,
)
from ansible_collections.sms.remediation.plugins.plugin_utils._transport.msrpc.settings import DEFAULT_DCOM_AUTH_LEVEL

_TEMPLATED = ("server", "site_code", "user", "password", "domain", "wmi_address", "server_vars_file")


def _flatten_inventory(data) -> dict:
    """{host: vars} of an Ansible YAML inventory (hosts at any depth of children), or the mapping itself."""
    if not isinstance(data, dict):
        return {}
    if "all" not in data:
        return {str(key): dict(value or {}) for key, value in data.items() if isinstance(value, dict) or value is None}
    found = {}

    def walk(group):
        if not isinstance(group, dict):
            return
        for host, host_vars in (group.get("hosts") or {}).items():
            found.setdefault(str(host), {}).update(host_vars or {})
        for child in (group.get("children") or {}).values():
            walk(child)
    walk(data["all"])
    return found


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "sms.remediation.sms_hierarchy"

    def verify_file(self, path):
        if super().verify_file(path):
            return path.endswith((".sms_hierarchy.yml", ".sms_hierarchy.yaml"))
        return False

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        options = self._templated_options()
        server_vars = self._server_vars(options, path)
        central_vars = self._transport_vars(options, options["server"])
        central_vars.update(options["host_vars"] or {})
        central_vars.update(self._vars_for(server_vars, options["server"]))

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        answer = None
        if use_cache:
            try:
                answer = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if answer is None:
            try:
                answer = READERS[options["transport"]](self._central(options, central_vars), options["site_code"] or None)
            except HierarchySourceError as exc:
                message = f"sms_hierarchy: the central site server could not be read: {exc}"
                if self.get_option("strict"):
                    raise AnsibleParserError(message) from None
                self.display.warning(message + " (strict is off: no hosts from this source)")
                return
        if update_cache:
            self._cache[cache_key] = answer
        self._populate(answer, options, server_vars)

    # ---- options ------------------------------------------------------------------------------------
    def _templated_options(self) -> dict:
        options = dict(self.get_options())
        for name in _TEMPLATED:
            value = options.get(name)
            if isinstance(value, str) and self.templar.is_template(value):
                options[name] = self.templar.template(value)
        for name in ("server", "site_code", "user", "domain"):
            options[name] = "" if options.get(name) is None else str(options[name]).strip()
        # a password is taken as it is: the transport never strips one (a space may be part of it)
        options["password"] = "" if options.get("password") is None else str(options["password"])
        if not options["server"]:
            raise AnsibleParserError("sms_hierarchy: option server is empty (the central site server to read)")
        return options

    def _server_vars(self, options: dict, path: str) -> dict:
        """{lower-case name: vars} from server_vars_file, then server_vars."""
        merged = {}
        source = options.get("server_vars_file")
        if source:
            source = os.path.join(os.path.dirname(path), os.path.expanduser(str(source)))
            loaded = self._load_trusted(source)
            for name, host_vars in _flatten_inventory(loaded).items():
                merged.setdefault(name.lower(), {}).update(host_vars)
        for name, host_vars in (options.get("server_vars") or {}).items():
            if not isinstance(host_vars, dict):
                raise AnsibleParserError(f"sms_hierarchy: server_vars[{name}] must be a mapping of variables")
            merged.setdefault(str(name).lower(), {}).update(host_vars)
        return merged

    def _load_trusted(self, source: str):
        """The file as the user's own inventory: its templates (a vaulted password) stay templates."""
        if not os.path.isfile(source):
            raise AnsibleParserError(f"sms_hierarchy: server_vars_file {source} does not exist")
        try:
            return self.loader.load_from_file(source, cache="none", trusted_as_template=True)
        except TypeError:                       # ansible-core before 2.19 has no data tagging
            return self.loader.load_from_file(source, cache=False)
        except Exception as exc:                # noqa: BLE001 - the loader raises its own parse errors
            raise AnsibleParserError(f"sms_hierarchy: server_vars_file {source}: {exc}") from None

    @staticmethod
    def _vars_for(server_vars: dict, *names) -> dict:
        found = {}
        for name in reversed([n for n in names if n]):      # the first name wins
            found.update(server_vars.get(str(name).lower(), {}))
        return found

    @staticmethod
    def _transport_vars(options: dict, server_name: str) -> dict:
        """What the role needs to reach a site server with the plugin's transport and credentials."""
        with_credentials = options["credentials_to_hosts"]
        if options["transport"] == "msrpc":
            found = {"ansible_host": server_name, "ansible_connection": "local", "q244405_transport": "msrpc",
                     "q244405_msrpc_domain": options["domain"], "q244405_msrpc_timeout": options["timeout"]}
            if options["allow_ntlmv1"]:
                found["q244405_msrpc_allow_ntlmv1"] = True
            if with_credentials:
                found.update(q244405_msrpc_user=options["user"], q244405_msrpc_password=options["password"])
            return found
        found = {"ansible_host": server_name, "ansible_connection": "winrm", "q244405_transport": "winrm",
                 "ansible_winrm_scheme": options["winrm_scheme"], "ansible_winrm_transport": options["winrm_transport"],
                 "ansible_winrm_path": options["winrm_path"],
                 "ansible_winrm_server_cert_validation": options["winrm_server_cert_validation"],
                 "ansible_port": options["winrm_port"] or (5986 if options["winrm_scheme"] == "https" else 5985)}
        if with_credentials:
            found.update(ansible_user=options["user"], ansible_password=options["password"])
        return found

    def _central(self, options: dict, host_vars: dict) -> CentralSettings:
        """How to reach the central site server: its host variables as the play would use them."""
        def var(name, default=None):
            value = host_vars.get(name)
            if isinstance(value, str) and self.templar.is_template(value):
                value = self.templar.template(value)
            return default if value in (None, "") else value
        server = options["server"]
        if options["transport"] == "msrpc":
            return CentralSettings(
                host=server, address=str(var("ansible_host", server)), user=str(var("q244405_msrpc_user", options["user"])),
                password=str(var("q244405_msrpc_password", options["password"])),
                domain=str(var("q244405_msrpc_domain", options["domain"])), timeout=int(options["timeout"]),
                # "false" from an inventory file is false, as the transport reads it (settings._bool)
                allow_ntlmv1=boolean(var("q244405_msrpc_allow_ntlmv1", options["allow_ntlmv1"]), strict=False),
                wmi_address=options.get("wmi_address") or var("q244405_msrpc_wmi_address"),
                dcom_auth_level=str(var("q244405_msrpc_dcom_auth_level", DEFAULT_DCOM_AUTH_LEVEL)).strip().lower())
        return CentralSettings(
            host=server, address=str(var("ansible_host", server)), user=str(var("ansible_user", options["user"])),
            password=str(var("ansible_password", options["password"])), timeout=int(options["timeout"]),
            port=int(var("ansible_port", 0)) or None, scheme=str(var("ansible_winrm_scheme", options["winrm_scheme"])),
            path=str(var("ansible_winrm_path", options["winrm_path"])),
            winrm_transport=str(var("ansible_winrm_transport", options["winrm_transport"])),
            cert_validation=str(var("ansible_winrm_server_cert_validation", options["winrm_server_cert_validation"])))

    # ---- hosts and groups ---------------------------------------------------------------------------
    def _populate(self, answer: dict, options: dict, server_vars: dict) -> None:
        try:
            tree = build_hierarchy(answer.get("sites"), answer.get("site_code") or options["site_code"],
                                   options["hostnames"])
        except HierarchyError as exc:
            raise AnsibleParserError(f"sms_hierarchy: the hierarchy read from {options['server']} is refused: {exc}") from None
        strict = self.get_option("strict")
        group = self.inventory.add_group(options["group"])
        groups = tree.groups()
        for name in sorted(groups):
            self.inventory.add_group(name)
        for site in tree.sites:
            host = self.inventory.add_host(tree.hosts[site.code], group=group)
            host_vars = self._transport_vars(options, site.server)
            host_vars.update(options["host_vars"] or {})
            host_vars.update(self._vars_for(server_vars, site.server, host, site.code))
            host_vars.update(hierarchy_vars(tree, site.code))
            for key, value in host_vars.items():
                self.inventory.set_variable(host, key, value)
            self._set_composite_vars(self.get_option("compose"), host_vars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), host_vars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, host, strict=strict)
        for name, members in groups.items():
            for host in members:
                self.inventory.add_child(name, host)
