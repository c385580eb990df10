"""Settings of `ocireg serve`: the README's table documents exactly the settings that the binary's
one table holds (as `serve --help` prints it), every setting is read from its flag, its OCIREG_
variable and its JSON key alike, later sources win, and out-of-range values are refused with a
message naming the setting."""
import json
import os
import re
import subprocess
from dataclasses import dataclass

import pytest
import requests

from authutil import parse_challenge
from ocireg_harness import ocireg_binary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOO_LONG = "x" * 5000  # longer than any text setting's field, and no number, bool or duration

# A value each text setting accepts when its default does not show one.
TEXT_SAMPLES = {
    "external-url": "https://registry.example.com",
    "trusted-proxy": "127.0.0.1,10.0.0.1",
    "tls-cert": "cert.pem",
    "tls-key": "key.pem",
    "storage": "s3://bucket?endpoint=http://127.0.0.1:7480&region=default",
    "index": "postgres://ocireg@127.0.0.1/ocireg",
}


def env_var(name):
    return "OCIREG_" + name.upper().replace("-", "_")


@dataclass
class Setting:
    name: str
    flag: str            # "--listen HOST:PORT", "--auth[=BOOL]"
    default: str
    bounds: tuple = None  # (min, max) of an integer setting

    def accepted_values(self):
        if self.bounds:
            return [str(self.bounds[0]), str(self.bounds[1])]
        if self.flag.endswith("BOOL") or self.flag.endswith("BOOL]"):
            return ["false" if self.default == "true" else "true"]
        if self.flag.endswith(" DURATION"):
            return ["6h", "90"]
        return [TEXT_SAMPLES.get(self.name, self.default)]


def binary_settings():
    """The settings `ocireg serve --help` lists, by name, in its order."""
    proc = subprocess.run([ocireg_binary(), "serve", "--help"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, f"serve --help exited with {proc.returncode}: {proc.stderr}"
    assert "\nSettings:" in proc.stdout and "\nOther options:" in proc.stdout, proc.stdout
    section = proc.stdout.split("\nSettings:")[1].split("\nOther options:")[0]
    blocks = []
    for line in section.splitlines():
        if line.startswith("  --"):
            blocks.append(line)
        elif blocks and line.startswith("   "):
            blocks[-1] += "\n" + line
    settings = {}
    for block in blocks:
        flag = re.split(r"\s{2,}|\n", block.strip())[0]
        name = re.match(r"--([a-z0-9-]+)", flag).group(1)
        tail = re.search(r"\((?:(\d+)\.\.(\d+), )?default: ([^)]*)\)\s*$", block)
        assert tail, f"--help gives no default for {name}: {block!r}"
        bounds = (int(tail.group(1)), int(tail.group(2))) if tail.group(1) else None
        settings[name] = Setting(name, flag, tail.group(3), bounds)
    assert len(settings) >= 20, f"expected every setting in serve --help, got {list(settings)}"
    return settings


def readme_rows():
    """The README's Configuration table: {json key: (flag, env, key, default, meaning)}."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Configuration")[1].split("\n## ")[0]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| `--"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 5, f"README settings row with {len(cells)} cells: {line}"
        flag, env, key, default, meaning = cells
        # "`0` (2 × cores)" -> "0": a note in parentheses may follow the default itself.
        default = re.sub(r"\s*\([^)]*\)$", "", default).strip("`")
        rows[key.strip("`")] = (flag.strip("`"), env.strip("`"), key.strip("`"), default, meaning)
    return rows


def serve(args=(), env=None, cwd=None):
    """Run `ocireg serve` expecting it to stop at its settings: (exit code, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OCIREG_")}
    full_env.update(env or {})
    proc = subprocess.run([ocireg_binary(), "serve", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=30)
    return proc.returncode, proc.stderr


def given(form, name, value, tmp_path):
    """(args, env) giving one setting in one form: "flag", "env" or "json"."""
    if form == "flag":
        return [f"--{name}={value}"], {}
    if form == "env":
        return [], {env_var(name): value}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({name: value}))
    return ["--config", str(path)], {}


def test_readme_documents_every_setting_of_the_binary_and_no_other():
    binary, readme = set(binary_settings()), set(readme_rows())
    assert binary - readme == set(), \
        f"settings missing from README.md's Configuration table: {sorted(binary - readme)}"
    assert readme - binary == set(), \
        f"README.md documents settings that `ocireg serve` does not have: {sorted(readme - binary)}"


def test_readme_gives_each_setting_the_binary_flag_variable_key_and_default():
    readme = readme_rows()
    wrong = []
    for name, s in binary_settings().items():
        if name not in readme:
            continue  # reported by the test above
        flag, env, key, default, meaning = readme[name]
        expected = {"flag": (flag, s.flag), "environment": (env, env_var(name)),
                    "JSON key": (key, name), "default": (default, s.default)}
        wrong += [f"{name}: README {what} {got!r}, expected {want!r}"
                  for what, (got, want) in expected.items() if got != want]
        if s.bounds and f"{s.bounds[0]}..{s.bounds[1]}" not in meaning:
            wrong.append(f"{name}: README should give the range {s.bounds[0]}..{s.bounds[1]}")
    assert not wrong, "README.md's Configuration table differs from `ocireg serve --help`:\n" + \
        "\n".join(wrong)


def test_help_defaults_lie_within_their_bounds():
    for name, s in binary_settings().items():
        if s.bounds:
            assert s.bounds[0] <= int(s.default) <= s.bounds[1], \
                f"{name}: default {s.default} outside {s.bounds[0]}..{s.bounds[1]}"


@pytest.mark.parametrize("form", ["flag", "env", "json"])
def test_every_setting_is_read_from_this_form(form, tmp_path):
    """A value no setting accepts, given in this form, is refused naming that setting: so the
    binary reads every setting, under the README's name, from flags, OCIREG_ variables and JSON."""
    for name in readme_rows():
        args, env = given(form, name, TOO_LONG, tmp_path)
        code, err = serve(args, env, cwd=tmp_path)
        assert code == 2, f"{form} {name}=<5000 x>: expected exit 2, got {code}: {err[:300]}"
        assert err.startswith(f"ocireg serve: {name}: "), \
            f"{form} {name}=<5000 x>: the message should name {name}: {err[:300]}"


@pytest.mark.parametrize("form", ["flag", "env", "json"])
def test_every_setting_accepts_good_values_in_this_form(form, tmp_path):
    """Flags are applied last, in order: a refused flag after the value under test stops the
    start before anything is opened, and its message shows that the value itself went through."""
    for name, s in binary_settings().items():
        canary = "log-level" if name == "threads" else "threads"
        for value in s.accepted_values():
            args, env = given(form, name, value, tmp_path)
            code, err = serve(args + [f"--{canary}=bogus"], env, cwd=tmp_path)
            assert code == 2 and err.startswith(f'ocireg serve: {canary}: invalid value "bogus"'), \
                f"{form} {name}={value!r} should be accepted; stderr: {err[:300]}"


def test_integer_settings_refuse_values_out_of_their_range(tmp_path):
    ints = {n: s for n, s in binary_settings().items() if s.bounds}
    assert {"threads", "log-level", "token-ttl", "upload-expiry"} <= set(ints)
    for name, s in ints.items():
        for value in (s.bounds[0] - 1, s.bounds[1] + 1):
            code, err = serve([f"--{name}", str(value)], cwd=tmp_path)
            assert code == 2, f"--{name} {value}: expected exit 2, got {code}: {err}"
            assert err == f'ocireg serve: {name}: invalid value "{value}" ' \
                          f'(see ocireg serve --help)\n', f"--{name} {value}: {err!r}"


@pytest.mark.parametrize("name,value,message", [
    ("listen", "5000", 'listen: expected HOST:PORT, got "5000"'),
    ("external-url", "registry.example.com",
     'external-url: expected http(s)://HOST[:PORT], got "registry.example.com"'),
    ("gc-interval", "6w", 'gc-interval: expected a duration such as 6h, got "6w"'),
    ("storage", "/srv/blobs",
     'storage: expected s3://BUCKET?endpoint=URL&region=R, got "/srv/blobs"'),
    ("access-log", "maybe", 'access-log: invalid value "maybe"'),
    ("data", "", 'data: invalid folder ""'),
])
def test_malformed_value_is_refused_with_what_was_expected(name, value, message, tmp_path):
    code, err = serve([f"--{name}", value], cwd=tmp_path)
    assert (code, err) == (2, f"ocireg serve: {message} (see ocireg serve --help)\n")


def test_unknown_json_key_and_unknown_flag_are_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"colour": "blue"}')
    assert serve(["--config", str(path)], cwd=tmp_path) == \
        (2, 'ocireg serve: unknown setting "colour" (see ocireg serve --help)\n')
    assert serve(["--colour", "blue"], cwd=tmp_path) == \
        (2, 'ocireg serve: unknown or incomplete option "--colour" (see ocireg serve --help)\n')


def access_logged(server, path):
    server.stop()
    with open(server.log_path, encoding="utf-8", errors="replace") as f:
        return any(json.loads(line).get("path") == path for line in f if line.startswith("{"))


@pytest.mark.parametrize("form", ["flag", "env", "json"])
def test_settings_take_effect_from_each_form(form, registry_factory, tmp_path):
    """auth, external-url and access-log, all given in one form, change what the server does."""
    values = {"auth": "true", "external-url": "https://registry.example.com/",
              "access-log": "false"}
    args, env = [], {}
    if form == "flag":
        args = [f"--{k}={v}" for k, v in values.items()]
    elif form == "env":
        env = {env_var(k): v for k, v in values.items()}
    else:
        path = tmp_path / "settings.json"
        path.write_text(json.dumps({"auth": True, "external-url": values["external-url"],
                                    "access-log": False}))
        args = ["--config", str(path)]
    server = registry_factory(extra_args=args, env=env)
    r = requests.get(f"{server.url}/v2/", timeout=10)
    assert r.status_code == 401, f"auth=true from {form}: /v2/ answered {r.status_code}"
    assert parse_challenge(r.headers["WWW-Authenticate"])["realm"] == \
        "https://registry.example.com/token", f"external-url from {form} not used"
    assert not access_logged(server, "/v2/"), f"access-log=false from {form}: /v2/ was logged"


def test_flag_beats_environment_which_beats_file(registry_factory, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"auth": True, "external-url": "https://file.example"}))
    env = {"OCIREG_CONFIG": str(path), "OCIREG_EXTERNAL_URL": "https://env.example"}

    def realm(args):
        server = registry_factory(extra_args=args, env=env)
        r = requests.get(f"{server.url}/v2/", timeout=10)
        return parse_challenge(r.headers["WWW-Authenticate"])["realm"]

    assert realm(["--external-url", "https://flag.example"]) == "https://flag.example/token"
    assert realm([]) == "https://env.example/token"


def _mhd_threads(pid):
    names = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            names.append(f.read().strip())
    return sum(1 for n in names if n.startswith("MHD-worker"))


def test_default_threads_are_four_per_core_and_at_least_eight(registry_factory):
    """`threads` 0: enough request threads for concurrent pushes to share commits
    (server/http/http.c THREADS_PER_CORE, THREADS_MIN); an explicit value is kept."""
    want = max(8, 4 * os.cpu_count())
    server = registry_factory()
    assert _mhd_threads(server.proc.pid) == want
    server = registry_factory(extra_args=["--threads", "3"])
    assert _mhd_threads(server.proc.pid) == 3
