import json, secrets, tempfile, time, io, sys
from pathlib import Path
from itsdangerous import Signer
from werkzeug.wrappers import Request, Response
from cabos import migrate
from cabos.db import make_engine
from cabos.site import create_app
from cabos.tracking import tokens, ingest, beacon
from cabos.content import current_library
tmp=Path(tempfile.mkdtemp()); url=f"sqlite:///{tmp/'b.db'}"; migrate.upgrade(make_engine(url))
app=create_app({"DATABASE_URL":url,"CONTENT_DIR":"/work/main/content","SECRET_KEY":"bench","SITE_URL":"http://127.0.0.1","TRACKING_FLUSH_MS":600000,"TRACKING_BUFFER_SIZE":100000})
with app.app_context():
    toks=[tokens.view_token(d) for d in app.extensions["cabos.content"].library.articles.values()]
s=Signer("bench", salt="cabos.visitor"); cookies=[s.sign(secrets.token_hex(16)).decode() for _ in range(20000)]
UA="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
def environ(i):
    body=json.dumps({"token":toks[i%len(toks)],"nonce":secrets.token_hex(16),"seq":0,"engaged_ms":1000,"scroll_pct":10,"read_to_end":False,"age_ms":100,"ctas":[],"query":"","referrer":"","dnt":False,"webdriver":False}).encode()
    return {"REQUEST_METHOD":"POST","PATH_INFO":"/t/e","SERVER_NAME":"127.0.0.1","SERVER_PORT":"8000","wsgi.url_scheme":"http","wsgi.input":io.BytesIO(body),"CONTENT_LENGTH":str(len(body)),"CONTENT_TYPE":"text/plain","HTTP_USER_AGENT":UA,"HTTP_ORIGIN":"http://127.0.0.1:8000","HTTP_COOKIE":"cabos_vid="+cookies[i%20000],"REMOTE_ADDR":"127.0.0.1","SERVER_PROTOCOL":"HTTP/1.1","wsgi.errors":sys.stderr}
N=6000
envs=[environ(i) for i in range(N)]
T={}
def t(name, t0): T[name]=T.get(name,0)+time.process_time()-t0
state=app.extensions["cabos.tracking"]
for rnd in range(2):
  T={}
  for e in envs:
    e["wsgi.input"].seek(0)
    t0=time.process_time(); req=Request(e); ctx=app.app_context(); ctx.push(); t("request+ctx", t0)
    t0=time.process_time(); p=ingest.validate(ingest.parse(beacon.read_body(req))); t("parse+validate", t0)
    t0=time.process_time(); c=beacon.context(req); t("context", t0)
    t0=time.process_time(); v=ingest.drop(p, c, current_library(), tokens.verify_page_token, state.allow); t("drop", t0)
    t0=time.process_time(); l=beacon.landing(v.doc); r=ingest.enrich(p, v, c, c.visitor_id, l); t("enrich", t0)
    t0=time.process_time(); state.buffer.add(r); t("add", t0)
    t0=time.process_time(); resp=beacon._answer(204); ctx.pop(); t("response+pop", t0)
  print({k: round(v/N*1e6,1) for k,v in T.items()}, "total", round(sum(T.values())/N*1e6,1))
n=len(state.buffer); t0=time.process_time(); state.buffer.flush(); print("flush per reading", round((time.process_time()-t0)/n*1e6,1))
for e in envs: e["wsgi.input"].seek(0)
t0=time.process_time()
for e in envs:
    list(app(e, lambda *a: None))
print("full wsgi path", round((time.process_time()-t0)/N*1e6,1))
from flask import Flask, request
bare=Flask("bare")
@bare.post("/t/e")
def b():
    json.loads(request.get_data()); return Response(status=204)
for e in envs: e["wsgi.input"].seek(0)
t0=time.process_time()
for e in envs: list(bare(e, lambda *a: None))
print("bare", round((time.process_time()-t0)/N*1e6,1))
