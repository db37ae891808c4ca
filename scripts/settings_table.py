"""Print the README's settings table from cabos/config.py (paste between the markers)."""

from cabos.config import SETTINGS

print("| Environment variable | Default | What it does |")
print("|---|---|---|")
for s in SETTINGS:
    default = "—" if s.default is None else f"`{s.default}`"
    print(f"| `CABOS_{s.name}` | {default} | {s.help} |")
