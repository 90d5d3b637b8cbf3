# Copyright: (c) 2026, sms.remediation developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NTLMv2 logon on an SMB1 server that negotiated without extended security (NT 4.0 SP4 and later;
private to this collection).

impacket's ``SMB.login_standard`` sends only NTLMv1 (or LM) responses there. NT 4.0 SP4+ accepts NTLMv2 in the same
SESSION_SETUP_ANDX (MS-CIFS 2.2.4.53.1, WordCount 13): the LMv2 response (24 bytes) in OEMPassword and the NTLMv2
response (NTProofStr + the client's blob) in UnicodePassword, both computed as MS-NLMP 3.3.2 says with the
challenge of the NEGOTIATE answer as ServerChallenge. The request is built from impacket's SMB1 structures, as
``login_standard`` builds its own."""

from __future__ import annotations

import os
import struct
import time

try:
    from impacket import ntlm, smb
except ImportError:     # ansible-test imports every file without impacket (deps.missing() says so before use)
    ntlm = smb = None

BLOB_VERSION = b"\x01\x01"                  # RespType, HiRespType (MS-NLMP 2.2.2.7 NTLMv2_CLIENT_CHALLENGE)
MSV_AV_EOL, MSV_AV_NB_DOMAIN_NAME = 0, 2    # MS-NLMP 2.2.2.1 AV_PAIR ids
FILETIME_UNIX_EPOCH = 116444736000000000    # 1970-01-01 in 100 ns ticks since 1601 (MS-DTYP 2.3.3 FILETIME)
CLIENT_MAX_BUFFER = 61440                   # what impacket's login_standard offers


def _filetime_now() -> bytes:
    return struct.pack("<Q", FILETIME_UNIX_EPOCH + int(time.time() * 10_000_000))


def _av_pairs(domain: str) -> bytes:
    """No CHALLENGE_MESSAGE carries the server's TargetInfo here: the blob names the logon domain, as Windows and
    Samba clients do without extended security (MS-NLMP 2.2.2.1: MsvAvNbDomainName, then MsvAvEOL)."""
    name = domain.encode("utf-16le")
    pairs = struct.pack("<HH", MSV_AV_NB_DOMAIN_NAME, len(name)) + name if domain else b""
    return pairs + struct.pack("<HH", MSV_AV_EOL, 0)


def ntlmv2_responses(user: str, password: str, domain: str, server_challenge: bytes,
                     client_challenge: bytes, timestamp: bytes) -> tuple[bytes, bytes]:
    """(LmChallengeResponse, NtChallengeResponse) of MS-NLMP 3.3.2 for ``server_challenge`` (8 bytes)."""
    response_key = ntlm.NTOWFv2(user, password, domain)        # ResponseKeyLM = LMOWFv2 = NTOWFv2
    temp = BLOB_VERSION + b"\0" * 6 + timestamp + client_challenge + b"\0" * 4 + _av_pairs(domain) + b"\0" * 4
    nt_proof = ntlm.hmac_md5(response_key, server_challenge + temp)
    lm_response = ntlm.hmac_md5(response_key, server_challenge + client_challenge) + client_challenge
    return lm_response, nt_proof + temp


def login_ntlmv2(server, user: str, password: str, domain: str) -> None:
    """Logs ``server`` (impacket's ``smb.SMB`` after a NEGOTIATE without extended security) on with NTLMv2.
    Raises ``smb.SessionError`` with the server's status when it refuses (STATUS_LOGON_FAILURE from a server that
    does not know NTLMv2, NT 4.0 before SP4, as much as for a wrong password)."""
    challenge = server.get_encryption_key()
    lm_response, nt_response = ntlmv2_responses(user, password, domain, challenge, os.urandom(8), _filetime_now())

    # The strings go in the OEM form, as login_standard sends them: no FLAGS2_UNICODE for this request.
    flags1, flags2 = server.get_flags()
    server.set_flags(flags2=flags2 & ~smb.SMB.FLAGS2_UNICODE)
    try:
        packet = smb.NewSMBPacket()
        setup = smb.SMBCommand(smb.SMB.SMB_COM_SESSION_SETUP_ANDX)
        setup["Parameters"] = smb.SMBSessionSetupAndX_Parameters()
        setup["Data"] = smb.SMBSessionSetupAndX_Data()
        parameters = setup["Parameters"]
        parameters["MaxBuffer"], parameters["MaxMpxCount"] = CLIENT_MAX_BUFFER, 2
        parameters["VCNumber"] = os.getpid() & 0xFFFF
        parameters["SessionKey"] = server._dialects_parameters["SessionKey"]   # pylint: disable=protected-access
        parameters["AnsiPwdLength"], parameters["UnicodePwdLength"] = len(lm_response), len(nt_response)
        parameters["Capabilities"] = smb.SMB.CAP_RAW_MODE | smb.SMB.CAP_USE_NT_ERRORS | smb.SMB.CAP_LARGE_READX \
            | smb.SMB.CAP_LARGE_WRITEX
        setup["Data"]["AnsiPwd"], setup["Data"]["UnicodePwd"] = lm_response, nt_response
        setup["Data"]["Account"], setup["Data"]["PrimaryDomain"] = user, domain
        setup["Data"]["NativeOS"], setup["Data"]["NativeLanMan"] = os.name, "pysmb"
        packet.addCommand(setup)
        server.sendSMB(packet)
        answer = server.recvSMB()
        if not answer.isValidAnswer(smb.SMB.SMB_COM_SESSION_SETUP_ANDX):   # raises smb.SessionError on a status
            raise ValueError("the server answered another command than SESSION_SETUP_ANDX")
        response = smb.SMBCommand(answer["Data"][0])
        smb.SMBSessionSetupAndXResponse_Parameters(response["Parameters"])     # a cut answer fails here, as in impacket
    finally:
        server.set_flags(flags1, flags2)
    server._uid = answer["Uid"]                                                 # pylint: disable=protected-access
    _record_credentials(server, user, password, domain)


def _record_credentials(server, user: str, password: str, domain: str) -> None:
    """What ``SMB.login`` keeps: DCE/RPC over this session reads the credentials back (getCredentials), and
    ``doesSupportNTLMv2`` says which response the logon used."""
    names = {"userName": user, "password": password, "domain": domain, "lmhash": "", "nthash": "", "aesKey": "",
             "TGT": None, "TGS": None, "isNTLMv2": True}
    for name, value in names.items():
        setattr(server, f"_SMB__{name}", value)
