#!/usr/bin/env python3
"""Summarises compare.sh's results.tsv as Markdown: per backend set and workload, the median
and min-max over rounds of every measure per target; the ratios jkd / other target taken
round by round (same round, so the same machine conditions); and issue 6's targets.
TLS rows (backend column BACKEND-tls-KEY, workloads tls-*) get their own sections and
issue 13 item 8's targets.

usage: aggregate.py results.tsv [machine.txt]
"""

import csv
import math
import statistics
import sys
from collections import defaultdict

WORKLOAD_TEXT = {
    ("tomcat", "small"): "GET /echo/x?size=17 (17-byte body), 50 connections",
    ("tomcat", "64k"): "GET /echo/x?size=65536 (64 KiB body), 50 connections",
    ("tomcat", "upload"): "POST /echo/x with a 1 MiB body, 50 connections",
    ("tomcat", "64k-text"): "GET /echo/x?size=65536 as text/plain, no Accept-Encoding (sent as it is), 50 connections",
    ("tomcat", "64k-gzip"): "GET /echo/x?size=65536 as text/plain with Accept-Encoding: gzip (compressed by the proxy), 50 connections",
    ("tomcat", "64k-br"): "GET /echo/x?size=65536 as text/plain with Accept-Encoding: br (compressed by the proxy), 50 connections",
    ("tomcat", "idle"): "10,000 idle keep-alive connections + the small GET on 50 more",
    ("demo", "small"): "GET /echo/x (demo node echo, ~300 bytes), 50 connections",
    ("demo", "upload"): "POST /echo/x with a 1 MiB body, 50 connections",
    ("demo", "idle"): "10,000 idle keep-alive connections + the small GET on 50 more",
    ("tomcat", "tls-small"): "HTTPS GET /echo/x?size=17 (17-byte body), 50 keep-alive connections",
    ("demo", "tls-small"): "HTTPS GET /echo/x (demo node echo, ~300 bytes), 50 keep-alive connections",
    ("*", "tls-resume"): "the small HTTPS GET with Connection: close on 50 connections: one TCP connection and one "
    "resumed TLS handshake per request (wrk offers each connection's previous session)",
    ("*", "tls-handshake"): "full TLS handshakes: 8 openssl s_time -new clients, each connection a new session "
    "and one small GET (HTTP/1.0); requests/s = full handshakes/s, no latencies",
    ("*", "tls-idle"): "idle HTTPS keep-alive connections (a full handshake each) + the small HTTPS GET on 50 more",
}
KEY_TEXT = {"ecdsa": "ECDSA P-256", "rsa": "RSA 2048"}
ORDER = ["jkd", "jkd-http", "modjk-event", "modjk-worker", "proxy-ajp", "haproxy", "nginx", "direct"]
WORKLOADS = ["small", "64k", "64k-text", "64k-gzip", "64k-br", "upload", "idle", "tls-small", "tls-resume", "tls-handshake", "tls-idle"]


def split_backend(b):
    """("tomcat", "ecdsa") for "tomcat-tls-ecdsa", ("tomcat", None) for "tomcat"."""
    base, sep, key = b.partition("-tls-")
    return base, (key if sep else None)


def num(x):
    try:
        v = float(x)
    except ValueError:
        return math.nan
    return v


def fmt(v, digits=0):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:,.{digits}f}"


def med_range(values, digits=0):
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return "–"
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt(m, digits)
    return f"{fmt(m, digits)} ({fmt(min(vals), digits)}–{fmt(max(vals), digits)})"


def errors_text(values):
    total = fmt(sum(v for v in values if v > 0))
    failed = sum(1 for v in values if v < 0)
    return total + (f" (wrk got no result in {failed} run{'s' if failed > 1 else ''})" if failed else "")


def median(values):
    vals = [v for v in values if not math.isnan(v)]
    return statistics.median(vals) if vals else math.nan


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    out = []
    if len(sys.argv) > 2:
        out.append("```")
        out.extend(open(sys.argv[2]).read().rstrip("\n").split("\n"))
        out.append("```")
        out.append("")
    data = defaultdict(lambda: defaultdict(dict))  # (backend, workload) -> target -> round -> row
    for r in rows:
        data[(r["backend"], r["workload"])][r["target"]][int(r["round"])] = r
    backends = []
    for r in rows:
        if r["backend"] not in backends:
            backends.append(r["backend"])

    def series(b, w, t, col):
        return [num(r[col]) for _, r in sorted(data[(b, w)].get(t, {}).items())]

    def ratio(b, w, col, a, c):
        """Round-by-round a/c, as (median, min, max) or None."""
        ra = data[(b, w)].get(a, {})
        rc = data[(b, w)].get(c, {})
        vals = []
        for k in sorted(set(ra) & set(rc)):
            x, y = num(ra[k][col]), num(rc[k][col])
            if not (math.isnan(x) or math.isnan(y)) and y > 0:
                vals.append(x / y)
        if not vals:
            return None
        return statistics.median(vals), min(vals), max(vals)

    def ratio_text(rt):
        if rt is None:
            return "–"
        m, lo, hi = rt
        return f"{m:.2f} ({lo:.2f}–{hi:.2f})"

    for b in backends:
        base, key = split_backend(b)
        if key:
            out.append(f"## Backends: {base}, TLS with {KEY_TEXT.get(key, key)} ({b})")
        else:
            out.append(f"## Backends: {b}")
        out.append("")
        for w in WORKLOADS:
            if (b, w) not in data:
                continue
            targets = [t for t in ORDER if t in data[(b, w)]]
            text = WORKLOAD_TEXT.get((base, w)) or WORKLOAD_TEXT.get(("*", w), w)
            out.append(f"### {b} / {w}: {text}")
            out.append("")
            out.append("Median over rounds, (min–max) where more than one round.")
            out.append("")
            out.append(
                "| target | requests/s | p50 ms | p99 ms | max ms | proxy CPU-s / 10k req | proxy peak RSS MiB | errors |"
            )
            out.append("|---|---|---|---|---|---|---|---|")
            # tls-handshake (openssl s_time) has no latencies.
            lat = (lambda *_: "–") if w == "tls-handshake" else med_range
            for t in targets:
                out.append(
                    "| {} | {} | {} | {} | {} | {} | {} | {} |".format(
                        t,
                        med_range(series(b, w, t, "rps")),
                        lat(series(b, w, t, "p50_ms"), 2),
                        lat(series(b, w, t, "p99_ms"), 2),
                        lat(series(b, w, t, "max_ms"), 1),
                        med_range(series(b, w, t, "cpu_per_10k"), 3),
                        "–" if t == "direct" else med_range(series(b, w, t, "hwm_mib"), 1),
                        errors_text(series(b, w, t, "errors")),
                    )
                )
            out.append("")
            if w == "tls-handshake":
                out.append(
                    "Here requests/s are full handshakes/s (one small GET each), and CPU-s per 10k are per "
                    "10,000 handshakes (= ms of proxy CPU per handshake × 10)."
                )
                out.append("")
            if w in ("idle", "tls-idle"):
                out.append(
                    "| target | first GET served / connected | seconds to 50 % / 99 % / all served | RSS MiB with the idle connections | alive after the hold | closed while idle | client errors |"
                )
                out.append("|---|---|---|---|---|---|---|")
                for t in targets:
                    for k, r in sorted(data[(b, w)][t].items()):
                        kv = dict(x.split("=") for x in r["extra"].split(",") if "=" in x)
                        out.append(
                            "| {} (round {}) | {} / {} | {} / {} / {} | {} | {} | {} | {} |".format(
                                t, k, kv.get("served1", "?"), kv.get("opened", "?"),
                                kv.get("t50_1", "?"), kv.get("t99_1", "?"), kv.get("tall_1", "?"),
                                kv.get("rss_idle_mib", "?"),
                                kv.get("alive2", "?"), kv.get("closed_idle", "?"), kv.get("errors", "?"),
                            )
                        )
                out.append("")
                out.append(
                    "The first table's requests/s, latency and errors are wrk's 50 busy connections during the hold; "
                    "its CPU per 10k counts every request of the run, the idle connections' two included; "
                    "peak RSS includes wrk's connections. Second table: -1 s means that share of the "
                    f"{ 'connections' } was never served; 'connected' counts completed TCP handshakes."
                )
                out.append("")
        # Ratios
        out.append(f"### {b}: jkd against the others, round by round within this run")
        out.append("")
        out.append("Median of the per-round ratios (min–max).")
        out.append("")
        present = [w for w in WORKLOADS if (b, w) in data]
        out.append("| ratio | " + " | ".join(present) + " |")
        out.append("|---|" + "---|" * len(present))
        others = [t for t in ORDER if t != "jkd" and any(t in data[(b, w)] for w in present)]
        for label, col in [("requests/s", "rps"), ("CPU per request", "cpu_per_10k"), ("p99", "p99_ms"), ("peak RSS", "hwm_mib")]:
            for o in others:
                if col in ("cpu_per_10k", "hwm_mib") and o == "direct":
                    continue
                out.append(
                    f"| {label} jkd / {o} | "
                    + " | ".join(ratio_text(ratio(b, w, col, "jkd", o)) for w in present)
                    + " |"
                )
        out.append("")
        if key:
            tls_targets(out, b, data, ratio, ratio_text, series)
            if base == "tomcat":  # HAProxy runs in front of the Tomcats only
                issue16_targets(out, b, key, data, ratio, ratio_text, series)
            continue
        # Targets of issue 6
        out.append(f"### {b}: issue 6's targets (small GET unless said otherwise)")
        out.append("")
        out.append("| target | measured | met |")
        out.append("|---|---|---|")

        def target_row(text, rt, good):
            target_line(out, ratio_text, text, rt, good)

        target_row("throughput ≥ 2× mod_jk (event MPM)", ratio(b, "small", "rps", "jkd", "modjk-event"), lambda v: v >= 2.0)
        target_row("throughput ≥ 1.5× mod_jk (worker MPM)", ratio(b, "small", "rps", "jkd", "modjk-worker"), lambda v: v >= 1.5)
        target_row("throughput ≥ 1.0× HAProxy", ratio(b, "small", "rps", "jkd", "haproxy"), lambda v: v >= 1.0)
        if b == "tomcat":
            target_row("HTTP members (jkd-http): throughput ≥ 1.0× HAProxy, same HTTP connectors", ratio(b, "small", "rps", "jkd-http", "haproxy"), lambda v: v >= 1.0)
            target_row("HTTP members (jkd-http): proxy CPU per request ≤ HAProxy's", ratio(b, "small", "cpu_per_10k", "jkd-http", "haproxy"), lambda v: v <= 1.0)
        target_row("proxy CPU per request ≤ 0.25× httpd's (mod_jk event)", ratio(b, "small", "cpu_per_10k", "jkd", "modjk-event"), lambda v: v <= 0.25)
        target_row("proxy CPU per request ≤ HAProxy's", ratio(b, "small", "cpu_per_10k", "jkd", "haproxy"), lambda v: v <= 1.0)
        target_row("p99 latency ≤ mod_jk's (event MPM)", ratio(b, "small", "p99_ms", "jkd", "modjk-event"), lambda v: v <= 1.0)
        # The RSS while the 10,000 connections are open and idle (idle.py's phase 1 done,
        # before wrk adds its 50); the run's peak also covers the 10,000 second GETs
        # that arrive at once at the end, when none of them is idle.
        idle_rss = []
        for _, r in sorted(data[(b, "idle")].get("jkd", {}).items()) if (b, "idle") in data else []:
            kv = dict(x.split("=") for x in r["extra"].split(",") if "=" in x)
            idle_rss.append(num(kv.get("rss_idle_mib", "nan")))
        if any(not math.isnan(v) for v in idle_rss):
            m = median(idle_rss)
            out.append(
                f"| RSS with 10,000 idle client connections ≤ 100 MiB | {med_range(idle_rss, 1)} MiB | {'yes' if m <= 100 else 'no'} |"
            )
            peak = series(b, "idle", "jkd", "hwm_mib")
            out.append(
                f"| (for reference: peak RSS of the idle run, when all 10,000 send their second GET at once) | {med_range(peak, 1)} MiB | – |"
            )
        else:
            out.append("| RSS with 10,000 idle client connections ≤ 100 MiB | not measured | – |")
        out.append("")
        issue16_targets(out, b, key, data, ratio, ratio_text, series)
    print("\n".join(out))


def target_line(out, ratio_text, text, rt, good):
    """One row of a targets table: the ratio (median, min-max) and whether it is met."""
    if rt is None:
        out.append(f"| {text} | not measured | – |")
    else:
        out.append(f"| {text} | {ratio_text(rt)} | {'yes' if good(rt[0]) else 'no'} |")


def issue16_targets(out, b, key, data, ratio, ratio_text, series):
    """Issue 16: the cheapest proxy on the box (small GET unless said otherwise)."""
    out.append(f"### {b}: issue 16's targets")
    out.append("")
    out.append("| target | measured | met |")
    out.append("|---|---|---|")

    def row(text, rt, good):
        target_line(out, ratio_text, text, rt, good)

    if key:
        row("TLS keep-alive: throughput ≥ 1.0× HAProxy", ratio(b, "tls-small", "rps", "jkd", "haproxy"), lambda v: v >= 1.0)
        row("TLS keep-alive: proxy CPU per request ≤ HAProxy's", ratio(b, "tls-small", "cpu_per_10k", "jkd", "haproxy"), lambda v: v <= 1.0)
        row("TLS: full handshakes/s ≥ HAProxy's", ratio(b, "tls-handshake", "rps", "jkd", "haproxy"), lambda v: v >= 1.0)
        out.append("")
        return
    if b == "tomcat":
        row("proxy CPU per request ≤ 0.8× HAProxy's", ratio(b, "small", "cpu_per_10k", "jkd", "haproxy"), lambda v: v <= 0.8)
        row("throughput ≥ 1.0× HAProxy", ratio(b, "small", "rps", "jkd", "haproxy"), lambda v: v >= 1.0)
        row("throughput ≥ 2× mod_jk (event MPM)", ratio(b, "small", "rps", "jkd", "modjk-event"), lambda v: v >= 2.0)
        row("p99 ≤ HAProxy's", ratio(b, "small", "p99_ms", "jkd", "haproxy"), lambda v: v <= 1.0)
        row("same HTTP backend: jkd-http throughput ≥ 1.0× HAProxy", ratio(b, "small", "rps", "jkd-http", "haproxy"), lambda v: v >= 1.0)
        row("same HTTP backend: jkd-http CPU per request ≤ HAProxy's", ratio(b, "small", "cpu_per_10k", "jkd-http", "haproxy"), lambda v: v <= 1.0)
    else:
        row("throughput ≥ 2× mod_jk (event MPM)", ratio(b, "small", "rps", "jkd", "modjk-event"), lambda v: v >= 2.0)
        cpu = [v for v in series(b, "small", "jkd", "cpu_per_10k") if not math.isnan(v)]
        if cpu:
            m = median(cpu)
            out.append(
                f"| proxy CPU per request ≤ 0.5× 0.16 = 0.080 CPU-s per 10k | {med_range(cpu, 3)} ({m / 0.16:.2f}× 0.16) | {'yes' if m <= 0.08 else 'no'} |"
            )
        else:
            out.append("| proxy CPU per request ≤ 0.080 CPU-s per 10k | not measured | – |")
    idle, peak = [], series(b, "idle", "jkd", "hwm_mib")
    for _, r in sorted(data[(b, "idle")].get("jkd", {}).items()) if (b, "idle") in data else []:
        kv = dict(x.split("=") for x in r["extra"].split(",") if "=" in x)
        idle.append(num(kv.get("rss_idle_mib", "nan")))
    for text, vals, limit in (
        ("10,000 idle connections ≤ 64 MiB", idle, 64),
        ("10,000 simultaneous requests (the idle run's second GETs) ≤ 128 MiB peak", peak, 128),
    ):
        vals = [v for v in vals if not math.isnan(v)]
        if vals:
            out.append(f"| {text} | {med_range(vals, 1)} MiB | {'yes' if median(vals) <= limit else 'no'} |")
        else:
            out.append(f"| {text} | not measured | – |")
    out.append("")


def tls_targets(out, b, data, ratio, ratio_text, series):
    """Issue 13 item 8: TLS keep-alive small GET against httpd + mod_ssl + mod_jk and HAProxy."""
    out.append(f"### {b}: issue 13 item 8's targets (TLS keep-alive small GET unless said otherwise)")
    out.append("")
    out.append("| target | measured (jkd / other, per round) | met |")
    out.append("|---|---|---|")

    def row(text, rt, good):
        target_line(out, ratio_text, text, rt, good)

    row("throughput ≥ 2× httpd + mod_ssl + mod_jk (event)", ratio(b, "tls-small", "rps", "jkd", "modjk-event"), lambda v: v >= 2.0)
    row("throughput ≥ 1.0× HAProxy", ratio(b, "tls-small", "rps", "jkd", "haproxy"), lambda v: v >= 1.0)
    row("proxy CPU per request ≤ HAProxy's", ratio(b, "tls-small", "cpu_per_10k", "jkd", "haproxy"), lambda v: v <= 1.0)
    for o in ("modjk-event", "haproxy"):
        rt = ratio(b, "tls-handshake", "rps", "jkd", o)
        if rt is not None:
            out.append(f"| (for reference) full handshakes/s jkd / {o} | {ratio_text(rt)} | – |")
        rt = ratio(b, "tls-handshake", "cpu_per_10k", "jkd", o)
        if rt is not None:
            out.append(f"| (for reference) proxy CPU per full handshake jkd / {o} | {ratio_text(rt)} | – |")
    for t in sorted(data[(b, "tls-idle")]) if (b, "tls-idle") in data else []:
        vals = []
        for _, r in sorted(data[(b, "tls-idle")][t].items()):
            kv = dict(x.split("=") for x in r["extra"].split(",") if "=" in x)
            vals.append(f"{kv.get('rss_idle_mib', '?')} MiB with {kv.get('served1', '?')} of {kv.get('opened', '?')} served")
        out.append(f"| (for reference) RSS with the idle TLS connections, {t} | {'; '.join(vals)} | – |")
    out.append("")


if __name__ == "__main__":
    main()
