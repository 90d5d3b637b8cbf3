"""Entry of the sms_hotfix_transaction.ps1 twin: -Mode Apply (``hotfix._Apply``) or -Mode Recover
(``hotfix_recover.Recover``). It lives apart from both so that the imports go one way
(hotfix_transaction -> hotfix_recover -> hotfix), with no circle between the two steps' modules.
"""

from __future__ import annotations

from smslab.handlers import HostContext, script
from smslab.handlers.sms_scripts.common import Params
from smslab.handlers.sms_scripts.hotfix import ScriptKilled, _Apply
from smslab.handlers.sms_scripts.hotfix_recover import Recover


@script("hotfix_transaction")
def hotfix_transaction(ctx: HostContext, parameters: dict) -> tuple[dict, bool]:
    """sms_hotfix_transaction.ps1: -Mode Apply (the transaction) or -Mode Recover (a cut run's journal)."""
    params = Params(parameters)
    with ctx.state.lock:
        run = Recover(ctx, params) if str(params.get("Mode", "Apply")).lower() == "recover" else _Apply(ctx, params)
        try:
            return run.run()
        except ScriptKilled as killed:
            # The process is gone: nothing is returned and the connection drops (server.py).
            ctx.notes["connection_cut"] = f"after step {killed}"
            return {}, True
        finally:
            run.scm.settle()
