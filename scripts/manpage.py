#!/usr/bin/env python3
"""Write the ocireg(1) man page from the built binary's own help: `ocireg --help` (the
commands), `ocireg serve --help` (every setting, from the one table in server/http/config.c)
and each subcommand's --help, so the page says what --help says.

Usage: manpage.py OCIREG_BINARY OUTPUT VERSION
"""
import re
import subprocess
import sys



def roff(text):
    """Escape text for roff: backslashes, and a line must not begin with a control char."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line
                     for line in text.split("\n"))


def run_help(binary, *args):
    proc = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        sys.exit(f"manpage.py: {' '.join(args)} --help exited with {proc.returncode}")
    return proc.stdout


def entries(lines):
    """`  FLAG   meaning` lines (meaning continued on indented lines) -> [(flag, meaning)]."""
    out = []
    for line in lines:
        if re.match(r"  \S", line):
            m = re.match(r"(\S.*?)(?:\s{2,}(.*))?$", line[2:].rstrip())
            out.append([m.group(1), (m.group(2) or "").strip()])
        elif out and line.startswith("   "):
            out[-1][1] = (out[-1][1] + " " + line.strip()).strip()
    return out


def commands(top):
    """`ocireg --help`'s command list: [(name, meaning)] (a long name has one space after it)."""
    return [line.split(None, 1) for line in section_of(top, "Commands:", "\n\n").splitlines()
            if line.strip()]


def section_of(text, start, end=None):
    part = text.split(start, 1)[1]
    return part.split(end, 1)[0] if end else part


def tagged(items):
    return "".join(f".TP\n.B {roff(flag)}\n{roff(meaning)}\n" for flag, meaning in items)


def page(binary, version):
    top = run_help(binary)
    serve = run_help(binary, "serve")
    out = [f'.TH OCIREG 1 "" "ocireg {version}" "User Commands"',
           ".SH NAME", "ocireg \\- an OCI image registry (OCI Distribution API and ECR API)",
           ".SH SYNOPSIS", ".B ocireg", ".I COMMAND", "[\\fIOPTIONS\\fR]",
           ".SH DESCRIPTION", roff(top.split("\n\n")[1].strip()),
           ".SH COMMANDS", tagged(commands(top))]
    intro = section_of(serve, "\n\n", "\nSettings:").strip()
    settings_text = section_of(serve, "\nSettings:", "\nOther options:")
    prose = [l for l in settings_text.splitlines() if l and not l.startswith("  ")]
    out += [".SH SERVE", ".B ocireg serve", "[\\fIOPTIONS\\fR]", ".PP", roff(intro), ".PP",
            roff("Settings: " + " ".join(prose).strip()),
            ".SS Settings", tagged(entries(settings_text.splitlines())),
            ".SS Other options",
            tagged(entries(section_of(serve, "\nOther options:", "\nSignals:").splitlines())),
            ".SH SIGNALS", tagged(entries(section_of(serve, "\nSignals:").splitlines()))]
    out.append(".SH ADMINISTRATION COMMANDS")
    seen = set()  # grant, revoke and grants share one usage text
    for cmd, _ in commands(top):
        text = run_help(binary, cmd).rstrip()
        if cmd == "serve" or text in seen:
            continue
        seen.add(text)
        out += [f".SS ocireg {cmd}", ".nf", roff(text), ".fi"]
    out += [".SH ENVIRONMENT", tagged([
        ("OCIREG_NAME", "a serve setting (upper case, '_' for '-'); see SERVE"),
        ("OCIREG_CONFIG", "the JSON settings file, as --config"),
        ("NOTIFY_SOCKET", "set by systemd (Type=notify): serve sends READY=1 once it answers, "
                          "RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 at "
                          "SIGTERM"),
        ("LISTEN_PID, LISTEN_FDS", "set by systemd socket activation: serve uses the passed "
                                   "listening socket instead of --listen"),
        ("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY", "the keys of --storage s3://")]),
        ".SH FILES", tagged([
            ("/etc/ocireg/ocireg.json", "the settings file the systemd unit passes to --config"),
            ("/var/lib/ocireg", "the data folder of the systemd unit (StateDirectory=ocireg)"),
            ("ocireg.service, ocireg.socket", "the systemd units; the socket is optional")]),
        ".SH SEE ALSO", "systemd.service(5), systemd.socket(5), sd_notify(3)", ""]
    return "\n".join(out)


if __name__ == "__main__":
    binary, output, version = sys.argv[1:4]
    text = page(binary, version)
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
