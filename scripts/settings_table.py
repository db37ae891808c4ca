"""The settings table in docs/settings.md, generated from cabos/config.py.

    python scripts/settings_table.py           # print it
    python scripts/settings_table.py --write   # replace it in docs/settings.md, between the markers
"""

import re
import sys
from pathlib import Path

from cabos.config import SETTINGS

README = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def table() -> str:
    lines = ["| Environment variable | Default | What it does |", "|---|---|---|"]
    for s in SETTINGS:
        default = "—" if s.default is None else f"`{s.default}`"
        lines.append(f"| `CABOS_{s.name}` | {default} | {s.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if "--write" in sys.argv:
        text = README.read_text(encoding="utf-8")
        new = re.sub(r"(<!-- settings:begin -->\n).*?(\n<!-- settings:end -->)",
                     lambda m: m.group(1) + table() + m.group(2), text, flags=re.S)
        README.write_text(new, encoding="utf-8")
    else:
        print(table())
