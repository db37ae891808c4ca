import os, secrets, tempfile, sys, glob
from pathlib import Path
sys.path.insert(0, "bench")
from _harness import ROOT, gunicorn, wrk
from itsdangerous import Signer
from cabos import migrate
from cabos.db import make_engine
from cabos.site import create_app
from cabos.tracking import tokens
tmp = Path(tempfile.mkdtemp()); url = f"sqlite:///{tmp / 'b.sqlite3'}"; migrate.upgrade(make_engine(url))
app = create_app({"DATABASE_URL": url, "CONTENT_DIR": str(ROOT / "content"), "SECRET_KEY": "bench"})
with app.app_context():
    toks = [tokens.view_token(d) for d in app.extensions["cabos.content"].library.articles.values()]
signer = Signer("bench", salt="cabos.visitor"); cookies = tmp / "c.txt"
cookies.write_text("\n".join(signer.sign(secrets.token_hex(16)).decode() for _ in range(20000)))
env = {"BENCH_DATABASE_URL": url, "BENCH_TOKENS": ",".join(toks), "BENCH_COOKIES": str(cookies)}
os.environ.update(env)
for f in glob.glob("/tmp/instr_*.txt"): os.remove(f)
with gunicorn("bench._instr_" + os.environ.get("WHICH", "apps") + "_tmp:app", env) as base:
    os.environ["BENCH_ORIGIN"] = base
    r = wrk(base + "/t/e", 8, script="bench/tracking_ingest.lua")
    print(r)
for f in glob.glob("/tmp/instr_*.txt"): print(open(f).read())
