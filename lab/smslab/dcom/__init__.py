"""The lab's DCOM/WMI responder: what an SMS 2.0 site server answers over WMI, for impacket's client.

No DCOM server exists on Linux, so the lab answers the calls the collection makes (``msrpc`` transport,
``plugins/plugin_utils/_transport/msrpc/wmi.py``), built on impacket's own NDR structures and checked
with impacket's own client (``tests/lab/test_wmi_responder.py``).

Start and stop::

    from smslab.dcom import WmiResponder, free_loopback_addresses
    addresses = free_loopback_addresses(names)            # {"site610": "127.0.0.57", ...}: port 135 free
    responder = WmiResponder(state_dir, names, addresses.__getitem__).start()
    ...                                                   # DCOMConnection("127.0.0.2", user, password)
    responder.stop()                                      # closes every socket, joins every thread

``address_for(name)`` gives each host its own loopback address; the responder listens on port 135 there
(DCOM has no port option; binding it needs root). Credentials are the scenario's ``credentials``
(``scenario.json``), else the Samba lab's default account (``smslab.samba``: the same simulated server); NTLMv2 (refused for a host whose ``host.json`` has
``ntlmv2: false``, as NT 4.0 before SP4), NTLMv1 only for a host with ``ntlmv1: true``. The RPC
authentication level is the client's choice (CONNECT, PKT_INTEGRITY or PKT_PRIVACY, impacket's default);
signatures are checked and answers sealed at that level.

What is answered (one module per job):

- ``rpc_server``: DCE/RPC over TCP (bind, alter-context, NTLM AUTH3, fragments, faults);
- ``ntlm_server``: the NTLM server side (challenge, verification, signing and sealing);
- ``exporter``: OXID resolver (``IObjectExporter``), ``IRemoteSCMActivator::RemoteCreateInstance``,
  ``IRemUnknown(2)`` and the IPID table;
- ``provider``: ``IWbemLevel1Login::NTLMLogin``, ``IWbemServices`` ``ExecQuery`` / ``GetObject`` /
  ``ExecMethod`` (``Win32_Process.Create``), ``IEnumWbemClassObject::Next``, and the host faults;
- ``wql``: classes per namespace (``root\\SMS``, ``root\\SMS\\site_<code>``, ``root\\cimv2``) and the WQL
  subset, answered from ``host.json`` (``wmi``, ``processes``);
- ``wmio``: MS-WMIO encoding of classes and instances (impacket only decodes them);
- ``responder``: the listeners, start/stop.

Faults (``host.json`` ``faults``): ``wmi_down`` (the WMI service does not start), ``wmi_unavailable`` (SMS
namespaces missing), ``wmi_access_denied``
(activation refused), ``wmi_query_hangs`` (a query never answers), ``rpc_unavailable`` (port 135 closed;
read when the responder starts), ``exporter_blackholed`` (the object exporter's binding names a port where a
connect hangs, as behind a firewall that drops the dynamic port silently).
"""

from smslab.dcom.responder import WmiResponder, free_loopback_addresses, lab_credentials, loopback_addresses

__all__ = ["WmiResponder", "free_loopback_addresses", "lab_credentials", "loopback_addresses"]
