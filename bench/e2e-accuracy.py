#!/usr/bin/env python3
# Pools the per-pair figures that TestOVSsFlow logs ("E2E-ACCURACY ..." lines, test/e2e/assert_test.go
# checkBytes) over several runs of the real-OVS end-to-end test:
#
#   for i in $(seq -w 1 10); do
#     go test -tags e2e -count=1 -v -run TestOVSsFlow -timeout 20m ./test/e2e/ > run$i.log 2>&1
#   done
#   python3 bench/e2e-accuracy.py run*.log
#
# For bytes and frames, per ordered VM pair: the estimate against what OVS processed (the
# reference the test asserts: the sender port's kernel rx minus ovs-vswitchd's receive-socket
# drops), against the kernel's rx alone, and against the generators' model (iperf3 + one TCP ACK
# per 2 segments); mean, SD and worst in % and in sigma of the sampling error.
import os, re, statistics as st, sys

FIELD = re.compile(r"(\w+)=(\S+)")
rows, runs = [], []
for path in sys.argv[1:]:
    text = open(path, errors="replace").read()
    got = [dict(FIELD.findall(l.split("E2E-ACCURACY", 1)[1])) for l in text.splitlines() if "E2E-ACCURACY" in l]
    if not got:
        continue
    start = re.search(r"START (\S+) load (\S+) (\S+) (\S+)", text)
    end = re.search(r"END (\S+) rc=(\d+) load (\S+) (\S+) (\S+)", text)
    ok = re.search(r"^(ok|FAIL)\s", text, re.M)
    runs.append((path, start.group(1) if start else "?", start.group(2) if start else "?",
                 end.group(3) if end else "?", ok.group(1) if ok else "?",
                 sum(int(g["drops"]) for g in got)))
    for g in got:
        g = {k: (v if k == "pair" else float(v)) for k, v in g.items()}
        g["run"] = path
        rows.append(g)

if not rows:
    sys.exit("no E2E-ACCURACY lines in " + " ".join(sys.argv[1:]))

print(f"{len(runs)} runs, {len(rows)} pair estimates")
print(f"{'run':12} {'start (UTC)':22} {'load1 start/end':16} {'result':6} OVS receive drops")
for r in runs:
    print(f"{os.path.basename(r[0]):12} {r[1]:22} {r[2] + ' / ' + r[3]:16} {r[4]:6} {r[5]:.0f}")


def stats(name, diffs, sig):
    m, sd = st.mean(diffs), (st.stdev(diffs) if len(diffs) > 1 else 0)
    lo, hi = min(diffs), max(diffs)
    zs = [d / s for d, s in zip(diffs, sig)]
    zm, zsd = st.mean(zs), (st.stdev(zs) if len(zs) > 1 else 0)
    print(f"{name:34} {m:+7.2f} {sd:6.2f} {lo:+7.1f} {hi:+7.1f}   {zm:+6.2f} {zsd:5.2f} {min(zs):+6.1f} {max(zs):+6.1f}  {st.mean(sig):5.2f}")


print()
print(f"{'estimate vs':34} {'mean %':>7} {'SD %':>6} {'min %':>7} {'max %':>7}   {'mean σ':>6} {'SD σ':>5} {'min σ':>6} {'max σ':>6}  {'1σ %':>5}")
pct = lambda e, r: 100 * (e - r) / r
sb = [100 * g["sigma_b"] for g in rows]
sf = [100 * g["sigma_f"] for g in rows]
stats("bytes, processed (asserted)", [pct(g["est_b"], g["proc_b"]) for g in rows], sb)
stats("bytes, kernel rx", [pct(g["est_b"], g["kernel_b"]) for g in rows], [100 * g["sigma_b"] * g["proc_b"] / g["kernel_b"] for g in rows])
stats("bytes, model (old reference)", [pct(g["model_est_b"], g["model_b"]) for g in rows], [100 * g["model_sigma_b"] for g in rows])
stats("frames, processed (asserted)", [pct(g["est_f"], g["proc_f"]) for g in rows], sf)
stats("frames, kernel rx", [pct(g["est_f"], g["kernel_f"]) for g in rows], [100 * (64 / g["kernel_f"]) ** .5 for g in rows])
stats("frames, model (old reference)", [pct(g["model_est_f"], g["model_f"]) for g in rows], [100 * (64 / g["model_f"]) ** .5 for g in rows])
print()
print("the references themselves (%):   mean     SD    min    max")
for name, xs in (("kernel rx bytes vs model bytes", [pct(g["kernel_b"], g["model_b"]) for g in rows]),
                 ("kernel rx frames vs model frames", [pct(g["kernel_f"], g["model_f"]) for g in rows]),
                 ("processed bytes vs kernel rx bytes", [pct(g["proc_b"], g["kernel_b"]) for g in rows])):
    print(f"{name:34} {st.mean(xs):+6.2f} {st.stdev(xs) if len(xs) > 1 else 0:6.2f} {min(xs):+6.2f} {max(xs):+6.2f}")
d = [g["delivered_f"] - g["proc_f"] for g in rows]
print(f"OVS delivered - processed frames per pair: min {min(d):+.0f}, max {max(d):+.0f}; "
      f"OVS receive drops per pair: min {min(g['drops'] for g in rows):.0f}, max {max(g['drops'] for g in rows):.0f}")
