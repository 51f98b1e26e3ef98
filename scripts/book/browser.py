#!/usr/bin/env python3
"""make book-browser: the built book (build/book/, both languages) in a real
browser, Debian's headless Chromium, driven over the DevTools protocol on a
pipe (--remote-debugging-pipe: it reads commands on fd 3 and writes answers
on fd 4, each a JSON object ended by a NUL byte). Python's standard library
only.

    scripts/book/browser.py [build/book] [build/book-shots]

Every page of both languages is opened from the files (file://, as a reader
opens build/book/index.html), at 1280 px wide and again at 390 px (a phone),
and must have:
- no JavaScript error: no uncaught exception, no console.error, no error
  entry in the browser's log (a script or stylesheet that did not load);
- no horizontal scroll: the document is no wider than the window, and every
  side-by-side listing fits in it; on the phone the Rust column is below
  the C column (they stack), on the wide screen beside it (the same row);
- every image loaded (complete, naturalWidth > 0);
- the language switch: its link leads to the same page in the other
  language (the same path under id/, or out of it); followed, that page is
  in the other language (<html lang>) and its own switch leads back.
Then the search, opened with ?search=SO_RCVTIMEO, must list results in both
languages, and screenshots of three pages at both widths are written to
SHOTS/ (PAGE-WIDTH.png, and the Indonesian ones as id-PAGE-WIDTH.png).

Bounded: each page has BOOK_PAGE_SECONDS (default 30 s) and the whole run
BOOK_BROWSER_SECONDS (default 420 s). Without chromium it is skipped (a
line in build/skipped-checks.txt, as the tests' skips), and under CI=true
that is a failure. Prints `book-browser: ok: ...` or `book-browser: FAILED:
...` per check (make test counts them) and exits 1 on any problem."""
import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

WIDTHS = ((1280, 800), (390, 844))
# The three pages shot at both widths: the front page, a lesson with
# listings and a picture, and a side-by-side chapter scrolled to a listing.
SHOTS = (("index.html", None), ("designs.html", "table.side-by-side"),
         ("side-by-side/server_prefork.html", "table.side-by-side"))
SEARCH = "SO_RCVTIMEO"
PAGE_SECONDS = float(os.environ.get("BOOK_PAGE_SECONDS", "30"))
RUN_SECONDS = float(os.environ.get("BOOK_BROWSER_SECONDS", "420"))

# What a page reports about itself, at the window's width.
MEASURE = r"""(() => {
  const doc = document.documentElement, width = window.innerWidth;
  const tables = [...document.querySelectorAll("table.side-by-side")];
  const wide = tables.filter(t => t.getBoundingClientRect().right > width + 1).length;
  let stacked = 0, beside = 0;
  for (const t of tables) {
    const row = [...t.querySelectorAll("tr")].find(r => r.cells.length === 2 && r.cells[0].tagName === "TD");
    if (!row) continue;
    const a = row.cells[0].getBoundingClientRect(), b = row.cells[1].getBoundingClientRect();
    if (b.top >= a.bottom - 1) stacked++; else if (Math.abs(b.top - a.top) < 2 && b.left >= a.right - 1) beside++;
  }
  const images = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  // The text column: no listing may stick out of it, and no box of the
  // page may scroll sideways (mdBook's content box scrolls by itself).
  // A wide table of figures scrolls in its own box (.table-wrapper).
  const column = document.querySelector("main").getBoundingClientRect().right;
  const pres = [...document.querySelectorAll("main pre, main table.side-by-side")]
    .filter(p => p.getBoundingClientRect().right > column + 1).length;
  const boxes = [...new Set(["#mdbook-content", ".content", "main"].map(s => document.querySelector(s)))]
    .filter(e => e && e.scrollWidth > e.clientWidth + 1).map(e => e.id || e.className || e.tagName);
  const link = document.querySelector("a.language-switch");
  return JSON.stringify({scrollWidth: doc.scrollWidth, width, tables: tables.length, wide, stacked, beside,
                         brokenImages: images, widePre: pres, boxes, images: document.images.length,
                         switchHref: link ? link.href : null, h1: !!document.querySelector("main h1")});
})()"""


class Browser:
    """Chromium over --remote-debugging-pipe, one page (a flat session)."""

    def __init__(self, executable, profile):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def fds():
            # fds 3 and 4 of the child; first out of the way of 3 and 4.
            r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--allow-file-access-from-files", "--hide-scrollbars", "--force-device-scale-factor=1",
                f"--user-data-dir={profile}", "about:blank"]
        self.process = subprocess.Popen(args, preexec_fn=fds, close_fds=False, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_child_r)
        os.close(from_child_w)
        os.set_blocking(self.from_child, False)
        self.buffer, self.next_id, self.events, self.session = b"", 0, [], None

    def _read(self, deadline):
        import select
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium in time")
            ready, _, _ = select.select([self.from_child], [], [], left)
            if ready:
                chunk = os.read(self.from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed its pipe (it exited)")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, deadline=None, session=True):
        deadline = deadline or time.monotonic() + PAGE_SECONDS
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_child, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_event(self, method, deadline):
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def open_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def evaluate(self, expression, deadline):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, deadline)
        if "exceptionDetails" in result:
            details = result['exceptionDetails']
            raise RuntimeError(f"evaluate: {details.get('exception', {}).get('description') or details.get('text')}")
        return result["result"].get("value")

    def resize(self, width, height, deadline):
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": width < 600}, deadline)
        # Two frames: the media queries and the layout at the new width.
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))", deadline)

    def navigate(self, url, deadline):
        self.events.clear()
        self.send("Page.navigate", {"url": url}, deadline)
        self.wait_event("Page.loadEventFired", deadline)

    def errors(self):
        """The JavaScript errors among the events so far (and forgets them)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                          for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}".strip())
        self.events = [e for e in self.events if e.get("method") not in
                       ("Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded")]
        return found

    def close(self):
        try:
            self.send("Browser.close", session=False, deadline=time.monotonic() + 5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def pages(root):
    """Every page of one language, relative to its root (id/ is the other's)."""
    found = []
    for folder, dirs, files in os.walk(root):
        if folder == root and "id" in dirs:
            dirs.remove("id")
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files
                  if f.endswith(".html") and f not in ("404.html", "toc.html")]
    return sorted(found)


def url_of(path):
    return "file://" + urllib.parse.quote(os.path.abspath(path))


def check_page(browser, root, lang, page, problems, counts, run_deadline):
    deadline = min(time.monotonic() + PAGE_SECONDS, run_deadline)
    where = f"{lang}/{page}" if lang == "id" else page
    here = os.path.join(root, "id", page) if lang == "id" else os.path.join(root, page)
    for width, height in WIDTHS:
        # Loaded at each width, as a phone loads it: mdBook decides at load
        # whether the sidebar covers the page.
        browser.resize(width, height, deadline)
        browser.navigate(url_of(here), deadline)
        browser.resize(width, height, deadline)
        seen = json.loads(browser.evaluate(MEASURE, deadline))
        at = f"{where} at {width} px"
        if seen["scrollWidth"] > seen["width"]:
            problems["scroll"].append(f"{at}: the page scrolls sideways ({seen['scrollWidth']} px in {width})")
        if seen["wide"]:
            problems["scroll"].append(f"{at}: {seen['wide']} listing table(s) wider than the window")
        if seen["widePre"]:
            problems["scroll"].append(f"{at}: {seen['widePre']} listing(s) or table(s) out of the text column")
        if seen["boxes"]:
            problems["scroll"].append(f"{at}: {', '.join(seen['boxes'])} scroll(s) sideways")
        if width < 600 and seen["beside"]:
            problems["scroll"].append(f"{at}: {seen['beside']} listing(s) side by side on a phone (not stacked)")
        if width >= 1000 and seen["stacked"]:
            problems["scroll"].append(f"{at}: {seen['stacked']} listing(s) stacked on a wide screen")
        for src in seen["brokenImages"]:
            problems["images"].append(f"{at}: image {src} did not load")
        counts["images"] += seen["images"]
        counts["tables"] += seen["tables"]
    for error in browser.errors():
        problems["console"].append(f"{where}: {error}")
    # The language switch: the same page in the other language.
    expected = os.path.join(root, page) if lang == "id" else os.path.join(root, "id", page)
    href = seen["switchHref"]
    if not href:
        problems["switch"].append(f"{where}: no language switch")
    else:
        target = urllib.parse.unquote(urllib.parse.urlsplit(href).path)
        if os.path.normpath(target) != os.path.normpath(os.path.abspath(expected)):
            problems["switch"].append(f"{where}: the language switch leads to {target}, not {expected}")
        elif not os.path.exists(target):
            problems["switch"].append(f"{where}: the language switch leads to {target}, which does not exist")
        else:
            # Followed: the other language's page, with its own switch back.
            browser.navigate(href, deadline)
            other = json.loads(browser.evaluate(
                'JSON.stringify({lang: document.documentElement.lang, h1: !!document.querySelector("main h1"),'
                ' back: (document.querySelector("a.language-switch") || {}).href || null})', deadline))
            want = "en" if lang == "id" else "id"
            if other["lang"] != want or not other["back"] or \
                    os.path.normpath(urllib.parse.unquote(urllib.parse.urlsplit(other["back"]).path)) != \
                    os.path.normpath(os.path.abspath(here)):
                problems["switch"].append(f"{where}: its other language's page is lang={other['lang']!r}, "
                                          f"its switch back {other['back']}")
            browser.errors()  # that page's own errors: seen when it is checked itself
    counts["pages"] += 1


def check_search(browser, root, lang, problems, run_deadline):
    deadline = min(time.monotonic() + PAGE_SECONDS, run_deadline)
    base = os.path.join(root, "id") if lang == "id" else root
    browser.resize(*WIDTHS[0], deadline)
    browser.navigate(url_of(os.path.join(base, "index.html")) + "?search=" + SEARCH, deadline)
    # The search runs once its index has loaded: poll for results a while.
    found = browser.evaluate(r"""new Promise(resolve => {
      const end = Date.now() + 10000;
      (function look() {
        const list = document.querySelector("#mdbook-searchresults, #searchresults");
        const items = list ? [...list.querySelectorAll("li")] : [];
        if (items.length || Date.now() > end)
          resolve(JSON.stringify({items: items.length, list: !!list,
                                  links: items.slice(0, 5).map(li => (li.querySelector("a") || {}).href || "")}));
        else setTimeout(look, 100);
      })();
    })""", deadline)
    seen = json.loads(found)
    for error in browser.errors():
        problems["console"].append(f"{lang} search: {error}")
    if not seen["items"]:
        problems["search"].append(f"{lang}: searching {SEARCH} listed nothing"
                                  + ("" if seen["list"] else " (no result list on the page)"))
    return seen["items"]


def shoot(browser, root, shots, lang, run_deadline):
    written = []
    base = os.path.join(root, "id") if lang == "id" else root
    for page, selector in SHOTS:
        path = os.path.join(base, page)
        if not os.path.exists(path):
            continue
        for width, height in WIDTHS:
            deadline = min(time.monotonic() + PAGE_SECONDS, run_deadline)
            browser.resize(width, height, deadline)
            browser.navigate(url_of(path), deadline)
            browser.resize(width, height, deadline)
            if selector:
                # The listing with its headings, below the menu bar.
                browser.evaluate(f"(document.querySelector({json.dumps(selector)}) || document.body)"
                                 ".scrollIntoView(); window.scrollBy(0, -80)", deadline)
            data = browser.send("Page.captureScreenshot", {"format": "png"}, deadline)["data"]
            name = ("id-" if lang == "id" else "") + f"{page.replace('/', '-')[:-5]}-{width}.png"
            with open(os.path.join(shots, name), "wb") as f:
                f.write(base64.b64decode(data))
            written.append(name)
            browser.errors()
    return written


def skip(why):
    if os.environ.get("CI") == "true":
        print(f"book-browser: FAILED: {why} (CI=true: a missing tool is a failure)")
        return 1
    log = os.environ.get("SOCKETS_SKIP_LOG", "build/skipped-checks.txt")
    os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
    with open(log, "a") as f:
        f.write(f"book in a browser (scripts/book/browser.py)\t{why}\tapt-get install chromium\n")
    print(f"book-browser: SKIPPED: {why}: apt-get install chromium")
    return 0


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "build/book"
    shots = sys.argv[2] if len(sys.argv) > 2 else "build/book-shots"
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        return skip("chromium is missing")
    if not os.path.exists(os.path.join(root, "index.html")) or not os.path.exists(os.path.join(root, "id")):
        print(f"book-browser: FAILED: no book in {root} (make book)")
        return 1
    shutil.rmtree(shots, ignore_errors=True)
    os.makedirs(shots)
    start = time.monotonic()
    run_deadline = start + RUN_SECONDS
    problems = {k: [] for k in ("console", "scroll", "images", "switch", "search", "run")}
    counts = {"pages": 0, "images": 0, "tables": 0}
    profile = tempfile.mkdtemp(prefix="book-browser-")
    browser = Browser(executable, profile)
    results, written = {}, []
    try:
        browser.open_page()
        for lang in ("en", "id"):
            for page in pages(root if lang == "en" else os.path.join(root, "id")):
                if time.monotonic() > run_deadline:
                    raise TimeoutError(f"the run took more than {RUN_SECONDS:.0f} s")
                try:
                    check_page(browser, root, lang, page, problems, counts, run_deadline)
                except TimeoutError as e:
                    problems["run"].append(f"{lang}/{page}: {e} (BOOK_PAGE_SECONDS={PAGE_SECONDS:.0f})")
                    if time.monotonic() > run_deadline:
                        raise
            results[lang] = check_search(browser, root, lang, problems, run_deadline)
            written += shoot(browser, root, shots, lang, run_deadline)
    except (TimeoutError, RuntimeError) as e:
        problems["run"].append(str(e))
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    seconds = time.monotonic() - start
    names = {"console": "no JavaScript error", "scroll": "no horizontal scroll, listings stacked on a phone",
             "images": "every image loads", "switch": "the language switch leads to the same page",
             "search": f"the search finds {SEARCH}", "run": f"every page within its deadline"}
    for key, name in names.items():
        if problems[key]:
            print(f"book-browser: FAILED: {name}:")
            for line in problems[key][:40]:
                print(f"  {line}")
            if len(problems[key]) > 40:
                print(f"  ... and {len(problems[key]) - 40} more")
        else:
            print(f"book-browser: ok: {name}")
    print(f"book-browser: {counts['pages']} pages at {' and '.join(str(w) for w, _ in WIDTHS)} px, "
          f"{counts['images']} images, {counts['tables']} listing tables, search results "
          f"{results}, screenshots {', '.join(written)} in {shots}/, in {seconds:.1f} s")
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
