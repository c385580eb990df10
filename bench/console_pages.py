#!/usr/bin/python3
"""Console page loads for issue 22: how long the web console takes, in Debian's headless
Chromium driven by python3-selenium, to draw its pages on a registry of 10,000 repositories and
100,000 tags. Starts its own ocireg on 127.0.0.1, seeds it by real pushes through the HTTP API
(bench/scale.py's seeder), measures cold (browser cache cleared) and warm loads, prints a table
and appends it to bench/RESULTS.md unless --no-write. Also run by `bench/run.sh --only console`.
Usage: bench/console_pages.py [--reps N] [--no-write]."""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

from scale import OCIREG, ROOT, Seeder, append_results, request, start_ocireg

sys.path.insert(0, os.path.join(ROOT, "tests"))
from browser import chromium, start_chromium  # noqa: E402  (tests/browser.py)

TITLE = "Console page loads (10,000 repositories, 100,000 tags)"
TARGET_MS = 200          # issue 22: pages render in under 200 ms
REPOS = 9999             # scale/r00000 ... plus scale/big: 10,000
BIG = "scale/big"
BIG_IMAGES = 2000        # 2,000 images x 50 tags: the console pages them, 50 images a page
TAGS_PER_IMAGE = 50      # 2,000 x 50 = 100,000 tags in scale/big
DEBOUNCE_MS = 150        # the console waits this long after a keystroke before it asks
WAIT_S = 60              # every wait in the browser is bounded by this (a loaded machine
                         # has taken 19 s to lay out scale/big's page)

# Injected before the console's own script in every document (CDP, so the page's CSP does not
# apply to it): a MutationObserver notes performance.now() when the page's content is drawn, and
# a fetch wrapper notes when a search's request leaves.
PROBE = """
(() => {
  window.__benchDone = null; window.__benchPaint = null; window.__benchFetch = null;
  window.__benchPrefix = null;
  const drawn = () => {
    const p = window.__benchPrefix;
    if (p !== null) {
      const links = document.querySelectorAll('a.repo-link');
      return links.length > 0 && [...links].every((a) => a.textContent.startsWith(p));
    }
    const h = location.hash;
    if (h.startsWith('#/repo/')) return document.querySelector('#image-table tbody tr');
    if (h.startsWith('#/image/')) return document.querySelector('#raw-manifest');
    return document.querySelector('#repos tbody tr:nth-child(50)');
  };
  // __benchDone: the content is in the DOM; __benchPaint: the frame that shows it is drawn (a
  // task queued from the next animation frame runs after that frame's layout and paint).
  const check = () => {
    if (window.__benchDone !== null || !drawn()) return;
    window.__benchDone = performance.now();
    requestAnimationFrame(() => setTimeout(() => { window.__benchPaint = performance.now(); }, 0));
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true });
  const orig = window.fetch;
  window.fetch = function (...args) {
    if (window.__benchPrefix !== null && window.__benchFetch === null) window.__benchFetch = performance.now();
    return orig.apply(this, args);
  };
})();
"""


class ImageSeeder(Seeder):
    """scale.py's seeder plus distinct images (an annotation apart) sharing its two blobs."""

    def blobs(self, repo):
        for blob in (self.config, self.layer):
            request(f"{self.base}/v2/{repo}/blobs/uploads/?digest={self.digest(blob)}", "POST",
                    blob)

    def image(self, repo, i, tags):
        m = json.loads(self.manifest)
        m["annotations"] = {"org.example.build": f"{i:05d}"}
        body = json.dumps(m).encode()
        query = "&".join(f"tag={t}" for t in tags)
        request(f"{self.base}/v2/{repo}/manifests/{self.digest(body)}?{query}", "PUT", body,
                {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        return self.digest(body)

    def images(self, repo, count, tags_each, threads=8):
        self.blobs(repo)
        digests = [None] * count

        def work(k):
            for i in range(k, count, threads):
                digests[i] = self.image(repo, i, [f"b{i:04d}-{t:02d}" for t in range(tags_each)])
        workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return digests


def open_browser():
    """Headless Chromium as tests/test_console.py drives it, with the probe injected."""
    from selenium import webdriver
    driver = start_chromium(webdriver)
    if driver is None:
        raise SystemExit("chromium and chromedriver are needed (scripts/deps.sh test)")
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})
    driver.execute_cdp_cmd("Network.enable", {})
    return driver


def poll(driver, script, what):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value is not None:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


API_MS = ("return performance.getEntriesByType('resource')"
          ".filter((e) => e.name.includes('/console/api/'))"
          ".reduce((sum, e) => sum + e.duration, 0)")


def load(driver, url, cold, api=None):
    """(to the frame that shows the page's content, to its content in the DOM), milliseconds
    from navigation start; the time its console API requests took goes to api when given."""
    driver.get("about:blank")
    if cold:
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.get(url)
    painted = poll(driver, "return window.__benchPaint", url)
    done = driver.execute_script("return window.__benchDone")
    if api is not None:
        api.append(driver.execute_script(API_MS))
    if url.endswith("/console/"):  # the console's own User Timing mark for the list
        mark = driver.execute_script(
            "const m = performance.getEntriesByName('repositories-rendered'); "
            "return m.length ? m[0].startTime : null")
        done = mark if mark is not None else done
    return painted, done


def search(driver, prefix):
    """For a prefix typed into the search box: (keystroke, request) -> (frame shown, in the
    DOM), in ms."""
    driver.execute_script(
        "window.__benchDone = null; window.__benchPaint = null; window.__benchFetch = null;"
        "window.__benchPrefix = arguments[0];"
        "const box = document.getElementById('repo-search'); box.value = arguments[0];"
        "window.__benchTyped = performance.now();"
        "box.dispatchEvent(new Event('input', { bubbles: true }));", prefix)
    painted = poll(driver, "return window.__benchPaint", f"the search for {prefix}")
    done, typed, sent = driver.execute_script(
        "return [window.__benchDone, window.__benchTyped, window.__benchFetch]")
    sent = sent if sent is not None else typed + DEBOUNCE_MS
    return (painted - typed, done - typed), (painted - sent, done - sent)


def record(row, state, times):
    painted, dom = times
    row[state].append(painted)
    if state == "warm":
        row["dom"].append(dom)


def measure(driver, base, image_digest, reps):
    pages = {
        "repository list, first page of 50": f"{base}/console/",
        "repository page, scale/r05000 (1 image)": f"{base}/console/#/repo/scale%2Fr05000",
        f"repository page, {BIG} ({BIG_IMAGES:,} images, 100,000 tags)":
            f"{base}/console/#/repo/{BIG.replace('/', '%2F')}",
        f"image page ({TAGS_PER_IMAGE} tags; manifest, config, layers, raw JSON)":
            f"{base}/console/#/image/{BIG.replace('/', '%2F')}/{image_digest.replace(':', '%3A')}",
    }
    s1 = "prefix search, keystroke to list (includes the 150 ms typing pause)"
    s2 = "prefix search, request to list"
    order = [list(pages)[0], s1, s2] + list(pages)[1:]
    raw = {name: {"cold": [], "warm": [], "dom": [], "api": []} for name in order}
    for rep in range(reps):
        for state in ("cold", "warm"):
            for name, url in pages.items():
                api = raw[name]["api"] if state == "warm" else None
                record(raw[name], state, load(driver, url, state == "cold", api))
            load(driver, pages[order[0]], state == "cold")
            typed, sent = search(driver, f"scale/r0{rep % 10}")
            record(raw[s1], state, typed)
            record(raw[s2], state, sent)
    return order, raw


def browser_errors(driver):
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]]


def table(order, raw):
    lines = ["| page | cold, ms | warm, ms | warm, in the DOM, ms | "
             "of which API requests (warm), ms | target | met |",
             "|---|---|---|---|---|---|---|"]
    for name in order:
        cold, warm, dom = (statistics.median(raw[name][s]) for s in ("cold", "warm", "dom"))
        api = f"{statistics.median(raw[name]['api']):,.0f}" if raw[name]["api"] else ""
        met = "yes" if max(cold, warm) < TARGET_MS else "**no**"
        lines.append(f"| {name} | {cold:,.0f} | {warm:,.0f} | {dom:,.0f} | {api} | "
                     f"< {TARGET_MS} ms | {met} |")
    return "\n".join(lines)


def run(reps=5, write=True, log=print, out=None, binary=OCIREG):
    tmp = tempfile.mkdtemp(prefix="ocireg-console-bench-")
    proc, base = start_ocireg(os.path.join(tmp, "data"), binary=binary)
    driver = None
    try:
        t0 = time.time()
        s = ImageSeeder(base)
        s.repos(0, REPOS)
        digests = s.images(BIG, BIG_IMAGES, TAGS_PER_IMAGE)
        seeded = time.time() - t0
        log(f"console: seeded {REPOS + 1:,} repositories and "
            f"{BIG_IMAGES * TAGS_PER_IMAGE + REPOS:,} tags in {seeded:.0f} s")
        catalog = json.loads(request(f"{base}/v2/_catalog?n=20000")[2])["repositories"]
        big = json.loads(request(f"{base}/console/api/repository?name={BIG}")[2])
        assert len(catalog) == REPOS + 1 and big["imageCount"] == BIG_IMAGES and \
            big["tagCount"] == BIG_IMAGES * TAGS_PER_IMAGE, (len(catalog), big)
        t1 = time.time()
        driver = open_browser()
        order, raw = measure(driver, base, digests[BIG_IMAGES // 2], reps)
        errors = browser_errors(driver)
        took = time.time() - t1
    finally:
        if driver:
            driver.quit()
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    text = table(order, raw)
    notes = [
        "",
        f"Headless Chromium ({chromium()}) driven by python3-selenium against `ocireg serve` "
        f"(no users, so the console is open); medians of {reps} repetitions. Seeded by real "
        f"pushes in {seeded:.0f} s: {REPOS:,} repositories with one image each (bench/scale.py's "
        f"seeder) and `{BIG}` with {BIG_IMAGES:,} distinct images of {TAGS_PER_IMAGE} tags each. "
        "Times are from navigation start to the frame that shows the page's content "
        "(`cold`, `warm`; `met` uses these) and to the content in the DOM (`in the DOM`; the "
        "list: the console's `repositories-rendered` User Timing mark; the other pages: a "
        "MutationObserver injected before the console's script; the frame is timed by a task "
        "queued from the next animation frame). `of which API requests`: the "
        "summed durations (Resource Timing) of the page's `/console/api/` requests, which run "
        "partly in parallel: the rest is the browser loading, running and drawing. `cold`: the browser's cache "
        "cleared before the navigation (the first repetition is also the first load after the "
        "server started); `warm`: the same page again with its files cached. The searches type "
        "`scale/r0N` into the box of a freshly loaded list (1,000 matches, 50 drawn); the "
        "console waits 150 ms after a keystroke before it asks, hence the second search row. "
        f"Measuring took {took:.0f} s; the browser logged {len(errors)} error(s)"
        + (": " + "; ".join(e[:200] for e in errors[:3]) if errors else "") + ".",
        "",
        "Raw figures (ms, to the frame shown), per repetition, cold / warm:",
        "",
    ] + [f"- {name}: {', '.join(f'{v:.0f}' for v in raw[name]['cold'])} / "
         f"{', '.join(f'{v:.0f}' for v in raw[name]['warm'])}" for name in order]
    text += "\n" + "\n".join(notes)
    log(text)
    if write:
        append_results(TITLE, "console_pages.py", text, out)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    run(args.reps, not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
