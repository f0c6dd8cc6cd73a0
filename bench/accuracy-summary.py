#!/usr/bin/env python3
# Pools the results of bench/accuracy-lab.sh runs: python3 bench/accuracy-summary.py bench/results/accuracy-*
import json, sys, re, glob, statistics as st
runs = sys.argv[1:]
scen = {}
for r in runs:
    for d in sorted(glob.glob(r + "/*/accuracy.json")):
        name = d.split("/")[-2]
        acc = json.load(open(d))
        summ = open(d.replace("accuracy.json", "summary.txt")).read()
        m = re.search(r"\(([-\d.]+) % never processed\)", summ)
        np_ = float(m.group(1)) if m else None
        if np_ is None:
            # compute from dpctl/kstats
            k0 = json.load(open(d.replace("accuracy.json","kstats0.json"))); k1 = json.load(open(d.replace("accuracy.json","kstats1.json")))
            def dp(f):
                m = re.search(r"hit:(\d+) missed:(\d+)", open(f).read()); return int(m.group(1))+int(m.group(2))
            proc = dp(d.replace("accuracy.json","dpctl1.txt")) - dp(d.replace("accuracy.json","dpctl0.txt"))
            rx = sum(k1[n][0]-k0[n][0] for n in k0 if re.match(r"flacc\d+-v\dh$", n))
            np_ = 100*(rx-proc)/rx
        load = float(open(d.replace("accuracy.json","load1.txt")).read().split()[0])
        s = scen.setdefault(name, {"z": [], "zp": [], "in": [0, 0], "out": [0, 0], "inb": [0,0], "outb":[0,0], "np": [], "load": [], "rows": 0, "ok": 0, "off": 0, "nd": 0})
        s["np"].append(np_); s["load"].append(load)
        for row in acc["ports"]:
            if not row["name"].startswith("flacc"):
                continue
            s["rows"] += 1
            s[{"ok": "ok", "off": "off"}.get(row["status"], "nd")] += 1
            if row["diff_sigma"] is None:
                continue
            s["z"].append(row["diff_sigma"]); s["zp"].append(row["packets_diff_sigma"])
            k = row["direction"]
            s[k][0] += row["estimate_packets"]; s[k][1] += row["counter_packets"]
            s[k+"b"][0] += row["estimate_bytes"]; s[k+"b"][1] += row["counter_bytes"]
print(f"{'scenario':9} {'runs':>4} {'load':>9} {'never proc.':>12} {'ok/off/nd':>10} {'z bytes mean±sd':>16} {'z pk mean±sd':>14} {'in est/ctr pk':>14} {'out est/ctr pk':>15} {'in B':>8} {'out B':>8}")
for name in ["udp5", "tcp40", "udp200", "tcpmax", "udpsmall"]:
    s = scen.get(name)
    if not s: continue
    f = lambda v: f"{st.mean(v):+.2f}±{st.stdev(v):.2f}" if len(v) > 1 else "-"
    ratio = lambda a: f"{100*(a[0]/a[1]-1):+.2f}%" if a[1] else "-"
    print(f"{name:9} {len(s['np']):4d} {min(s['load']):4.1f}-{max(s['load']):<4.1f} {min(s['np']):5.2f}-{max(s['np']):<5.2f}% {s['ok']:3d}/{s['off']}/{s['nd']:<3d} {f(s['z']):>16} {f(s['zp']):>14} {ratio(s['in']):>14} {ratio(s['out']):>15} {ratio(s['inb']):>8} {ratio(s['outb']):>8}")

# "out" rows (traffic the bridge sent into a port) are the clean test of the estimate: every
# packet the port's counters count there went through the datapath, and so past the sampler.
import math
z, est, ctr, var = [], 0, 0, 0.0
for r in runs:
    for d in glob.glob(r + "/*/accuracy.json"):
        for row in json.load(open(d))["ports"]:
            if row["name"].startswith("flacc") and row["direction"] == "out" and row["packets_diff_sigma"] is not None:
                z.append(row["packets_diff_sigma"])
                est += row["estimate_packets"]
                ctr += row["counter_packets"]
                var += (row["packets_sigma_ratio"] * row["counter_packets"]) ** 2
if len(z) > 1:
    print(f"out rows: {len(z)}, z (packets) mean {st.mean(z):+.2f} sd {st.stdev(z):.2f}, max |z| {max(map(abs, z)):.2f}, "
          f"beyond 3: {sum(abs(v) > 3 for v in z)}; pooled estimate/counter − 1 = {100 * (est / ctr - 1):+.3f} % ± {100 * math.sqrt(var) / ctr:.3f} % (1 σ)")
