import atexit, os, time, gc
from bench.tracking_apps import cabos_app
from cabos.tracking import beacon, buffer as bufmod
T = {"req": 0.0, "flush": 0.0, "n": 0, "flushes": 0, "gc": 0.0, "gcn": 0}
orig_call = beacon.BeaconEndpoint.__call__
def call(self, environ, start_response):
    t = time.thread_time()
    try:
        return orig_call(self, environ, start_response)
    finally:
        T["req"] += time.thread_time() - t; T["n"] += 1
beacon.BeaconEndpoint.__call__ = call
orig_flush = bufmod.WriteBuffer.flush
def flush(self, *a, **k):
    t = time.thread_time()
    try:
        return orig_flush(self, *a, **k)
    finally:
        T["flush"] += time.thread_time() - t; T["flushes"] += 1
bufmod.WriteBuffer.flush = flush
_gc_t = [0.0]
def gccb(phase, info):
    if phase == "start": _gc_t[0] = time.perf_counter()
    else: T["gc"] += time.perf_counter() - _gc_t[0]; T["gcn"] += 1
gc.callbacks.append(gccb)
t_cpu0 = [None]
def dump():
    with open(f"/tmp/instr_{os.getpid()}.txt", "w") as f:
        f.write(repr(T) + " total_cpu=" + repr(time.process_time()))
atexit.register(dump)
app = cabos_app
