"""Print a collection script as it is sent to a host: the script with the shared prelude in place.

The .ps1 files under plugins/plugin_utils/powershell/ need their prelude (``_prelude.ps1``) to run; to run
one by hand on a site server (it then prints its result as JSON), write it out first:

    python tools/host_script.py sms_probe > sms_probe.ps1
    python tools/host_script.py                       # the names of the scripts
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPTS_PY = Path(__file__).resolve().parent.parent / "plugins" / "plugin_utils" / "_scripts.py"


def main(argv: list[str]) -> int:
    spec = importlib.util.spec_from_file_location("_sms_scripts", SCRIPTS_PY)
    scripts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scripts)
    names = scripts.script_names()
    if len(argv) != 1 or argv[0].removesuffix(".ps1") not in names:
        print(f"usage: python tools/host_script.py NAME   (NAME: {', '.join(names)})", file=sys.stderr)
        return 2
    sys.stdout.write(scripts.script_text(argv[0].removesuffix(".ps1")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
