import json, secrets, tempfile, time, io, sys
from pathlib import Path
from itsdangerous import Signer
from flask import Flask, Response, request
from cabos import migrate
from cabos.db import make_engine
from cabos.site import create_app
from cabos.tracking import tokens
tmp=Path(tempfile.mkdtemp()); url=f"sqlite:///{tmp/'b.db'}"; migrate.upgrade(make_engine(url))
app=create_app({"DATABASE_URL":url,"CONTENT_DIR":"/work/main/content","SECRET_KEY":"bench","SITE_URL":"http://127.0.0.1","TRACKING_FLUSH_MS":600000,"TRACKING_BUFFER_SIZE":100000})
with app.app_context():
    toks=[tokens.view_token(d) for d in app.extensions["cabos.content"].library.articles.values()]
s=Signer("bench", salt="cabos.visitor"); cookies=[s.sign(secrets.token_hex(16)).decode() for _ in range(2000)]
bare=Flask("bare")
@bare.post("/t/e")
def b():
    json.loads(request.get_data()); return Response(status=204)
UA="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
def environ(i, path="/t/e", method="POST"):
    body=json.dumps({"token":toks[i%len(toks)],"nonce":secrets.token_hex(16),"seq":0,"engaged_ms":1000,"scroll_pct":10,"read_to_end":False,"age_ms":100,"ctas":[],"query":"?utm_source=newsletter","referrer":"","dnt":False,"webdriver":False}).encode()
    return {"REQUEST_METHOD":method,"PATH_INFO":path,"SERVER_NAME":"127.0.0.1","SERVER_PORT":"8000","wsgi.url_scheme":"http","wsgi.input":io.BytesIO(body),"CONTENT_LENGTH":str(len(body)),"CONTENT_TYPE":"text/plain","HTTP_USER_AGENT":UA,"HTTP_ORIGIN":"http://127.0.0.1:8000","HTTP_COOKIE":"cabos_vid="+cookies[i%2000],"REMOTE_ADDR":"127.0.0.1","SERVER_PROTOCOL":"HTTP/1.1","wsgi.errors":sys.stderr,"wsgi.multithread":False,"wsgi.multiprocess":True,"wsgi.run_once":False,"wsgi.version":(1,0)}
def sr(status, headers, exc=None): pass
def bench(a, n, path="/t/e", method="POST"):
    envs=[environ(i, path, method) for i in range(n)]
    t=time.process_time()
    for e in envs:
        for _ in a(e, sr): pass
    return (time.process_time()-t)/n*1e6
for rnd in range(3):
    print("bare", round(bench(bare, 2000)), "us; cabos /t/e", round(bench(app, 2000)), "us; cabos GET /robots.txt", round(bench(app, 2000, "/robots.txt", "GET")), "us")
buf=app.extensions["cabos.tracking"].buffer
n=len(buf); t=time.process_time(); buf.flush(); print('flush', n, 'readings:', round((time.process_time()-t)/max(n,1)*1e6), 'us each (cpu)')
import cProfile, pstats
bench(app, 3000)
pr=cProfile.Profile(); pr.enable(); buf.flush(); pr.disable()
pstats.Stats(pr).sort_stats("tottime").print_stats(25)
