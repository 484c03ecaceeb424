#!/usr/bin/env python3
"""Reads the proxy check's guest console log: the direct v4l2-compliance runs on vivid, the compliance suite run
through the proxy, the streaming, unplug and timing results. Writes comparison.md (test by test, direct against
proxied) next to the log, prints every failure, and exits 0 only when every check passed and every compliance
test that differs between the two is listed in expected-differences (with why)."""
import os
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TEST = re.compile(r"^\s*test (.+?): (OK \(Not Supported\)|OK|FAIL)\s*$")


def record(results, name, value):
    # A name can come twice in one run (VIDIOC_G/S_FREQUENCY under both input and output ioctls); both lists give them
    # in the same order, so the second is told apart by its number rather than overwriting the first.
    key, n = name, 1
    while key in results:
        n += 1
        key = f"{name} #{n}"
    results[key] = value


def main(log_path):
    here = os.path.dirname(os.path.abspath(__file__))
    lines = [ANSI.sub("", line.rstrip("\r\n")) for line in open(log_path, errors="replace")]
    direct, proxied, totals, results, benches, over_socket = {}, {}, {}, [], [], {}
    step = None
    steps = {}
    for line in lines:
        begin = re.match(r"^@@begin (\S+)", line)
        if begin:
            step = begin.group(1)
            continue
        end = re.match(r"^@@end (\S+) rc=(\d+) start=([\d.]+) end=([\d.]+)", line)
        if end:
            steps[end.group(1)] = (int(end.group(2)), float(end.group(4)) - float(end.group(3)))
            step = None
            continue
        if line.startswith("@@compliance-total "):
            label, text = line.split(" ", 2)[1:]
            totals["proxy " + label] = text
            continue
        m = re.match(r"^@@compliance (\S+) (.*?) \| (.+?): (OK \(Not Supported\)|OK|FAIL)(?: \| (.*))?$", line)
        if m:
            name = m.group(3)[len("test "):] if m.group(3).startswith("test ") else m.group(3)
            record(proxied.setdefault(m.group(1), {}), name, (m.group(4), m.group(5) or ""))
            continue
        if line.startswith("@@result "):
            results.append(line[len("@@result "):])
            continue
        if line.startswith("@@bench "):
            benches.append(line[len("@@bench "):])
            continue
        if step == "proxy-vhost-user":
            t = TEST.match(line)
            if t:
                record(over_socket, t.group(1), t.group(2))
            total = re.match(r"^Total: (\d+), Succeeded: (\d+), Failed: (\d+), Warnings: (\d+)", line)
            if total:
                totals["proxy capture-s10 over vhost-user"] = line.strip()
            continue
        if step and step.startswith("direct-"):
            t = TEST.match(line)
            if t:
                record(direct.setdefault(step[len("direct-"):], {}), t.group(1), t.group(2))
            total = re.match(r"^Total for .*?: (\d+), Succeeded: (\d+), Failed: (\d+), Warnings: (\d+)", line)
            if total:
                totals["direct " + step[len("direct-"):]] = "Total: %s, Succeeded: %s, Failed: %s, Warnings: %s" % total.groups()

    allowed = set()
    expected_path = os.path.join(here, "expected-differences")
    if os.path.exists(expected_path):
        for line in open(expected_path):
            line = line.split("#", 1)[0].strip()
            if line:
                allowed.add(line)

    failures = []
    for name, (rc, seconds) in steps.items():
        if name == "dotnet-startup":
            print(f"dotnet start-up under TCG: {seconds:.2f} s (rc={rc})")
            if rc != 0:
                failures.append("dotnet does not start in the guest")
    for result in results:
        print("result: " + result)
        if " FAIL " in result:
            failures.append(result)
    for bench in benches:
        print("bench: " + bench)
    if not results:
        failures.append("the proxy check printed no results")

    out = ["| node | test | vivid direct (v4l2-compliance) | through the proxy (compliance suite) | |", "|---|---|---|---|---|"]
    for label in sorted(set(direct) | set(proxied)):
        d, p = direct.get(label, {}), proxied.get(label, {})
        for test in list(d) + [t for t in p if t not in d]:
            dv = d.get(test, "-")
            pv, why = p.get(test, ("-", ""))
            # A test only the suite has (its virtio-media and hostile-driver statements) must pass through the proxy.
            same = dv == pv or (dv == "-" and pv != "FAIL") or pv == "-"
            key = f"{label} | {test}"
            mark = "same" if same else ("known difference" if key in allowed else "DIFFERS")
            if not same and key not in allowed:
                failures.append(f"{key}: direct {dv}, proxied {pv} {why}")
            out.append(f"| {label} | {test} | {dv} | {pv} | {mark}{(' — ' + why) if why and pv == 'FAIL' else ''} |")
    # The same suite through the sample host's --proxy over a vhost-user socket (two processes) must give what it gave
    # in process on the same node.
    in_process = {test: status for test, (status, _) in proxied.get("capture-s10", {}).items()}
    out += ["", "| test | through the proxy in process | through the proxy over vhost-user (`--proxy`) | |", "|---|---|---|---|"]
    for test in in_process:
        ov = over_socket.get(test, "-")
        same = ov == in_process[test]
        out.append(f"| {test} | {in_process[test]} | {ov} | {'same' if same else 'DIFFERS'} |")
        if not same:
            failures.append(f"capture-s10 | {test}: in process {in_process[test]}, over vhost-user {ov}")
    if not over_socket:
        failures.append("the compliance suite did not run through --proxy over vhost-user")
    out.append("")
    for key in sorted(totals):
        out.append(f"- {key}: {totals[key]}")
        print(f"totals {key}: {totals[key]}")
    if not proxied:
        failures.append("the compliance suite did not run through the proxy")
    with open(os.path.join(os.path.dirname(log_path), "comparison.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"comparison: {os.path.join(os.path.dirname(log_path), 'comparison.md')}")
    for failure in failures:
        print("FAIL: " + failure)
    print("proxy check: " + ("PASS" if not failures else f"FAIL ({len(failures)})"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
