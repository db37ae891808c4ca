import atexit, os, time
from bench.tracking_apps import bare_app
T = {"req": 0.0, "n": 0}
inner = bare_app.wsgi_app
def call(environ, start_response):
    t = time.thread_time()
    try:
        return inner(environ, start_response)
    finally:
        T["req"] += time.thread_time() - t; T["n"] += 1
bare_app.wsgi_app = call
atexit.register(lambda: open(f"/tmp/instr_{os.getpid()}.txt", "w").write(repr(T)))
app = bare_app
