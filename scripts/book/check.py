#!/usr/bin/env python3
"""make book-test: the built book (build/book/, both languages) holds
together.

    scripts/book/check.py build/book [po/id.po]

- every internal link (href, src) of every page leads to a file that exists,
  and its #anchor to an id on that page;
- no include was left unresolved (`{{#include` in a page) and no listing is
  empty (a <pre><code> with no text: an include whose region is empty);
- the translation is whole: msgfmt --statistics on po/id.po reports no
  untranslated and no fuzzy message.
Prints `book-test: ok: ...` or `book-test: FAILED: ...` per check (make
test counts them), with a line per problem, and exits 1 on any."""
import html.parser
import os
import re
import subprocess
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.ids, self.code_depth, self.codes = [], set(), 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "name" in attrs:
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and tag in ("a", "img", "link", "script"):
                self.links.append(attrs[key])
        if tag == "code" and self.lasttag == "code":
            pass
        if tag == "pre":
            self.codes.append("")
            self.code_depth += 1

    def handle_endtag(self, tag):
        if tag == "pre":
            self.code_depth -= 1

    def handle_data(self, data):
        if self.code_depth:
            self.codes[-1] += data


def pages(root):
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".html") and name != "404.html":
                yield os.path.join(folder, name)


def parse(path, cache):
    if path not in cache:
        page = Page()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        page.feed(text)
        page.text = text
        cache[path] = page
    return cache[path]


def check_links(root):
    problems, cache, count = [], {}, 0
    for path in sorted(pages(root)):
        page = parse(path, cache)
        where = os.path.relpath(path, root)
        if "{{#include" in page.text or "{{#rustdoc_include" in page.text:
            problems.append(f"{where}: an include left unresolved")
        for number, code in enumerate(page.codes, 1):
            if not code.strip():
                problems.append(f"{where}: listing {number} is empty")
        for link in page.links:
            url = urllib.parse.urlsplit(link)
            if url.scheme or link.startswith("//"):
                continue
            count += 1
            target = os.path.normpath(os.path.join(os.path.dirname(path), urllib.parse.unquote(url.path))) \
                if url.path else path
            if os.path.isdir(target):
                target = os.path.join(target, "index.html")
            if not os.path.exists(target):
                problems.append(f"{where}: {link}: no such file")
            elif url.fragment and target.endswith(".html"):
                if urllib.parse.unquote(url.fragment) not in parse(target, cache).ids:
                    problems.append(f"{where}: {link}: no such anchor")
    return problems, count, len(cache)


def check_translation(po):
    """msgfmt --statistics prints e.g. '12 translated messages, 3 fuzzy
    translations, 1 untranslated message.'"""
    run = subprocess.run(["msgfmt", "--check", "--statistics", "-o", os.devnull, po],
                         capture_output=True, text=True)
    stats = run.stderr.strip()
    problems = [f"{po}: msgfmt failed: {stats}"] if run.returncode else []
    if re.search(r"\d+ (fuzzy|untranslated)", stats):
        problems.append(f"{po}: not whole: {stats}")
    return problems, stats


def check_headings(root):
    """No heading shows a `{#id}` as text: mdbook-gettext keeps the English
    heading's explicit id, so a translation that repeats it would print it."""
    problems = []
    for path in pages(root):
        with open(path, encoding="utf-8") as f:
            html = f.read()
        for heading in re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", html, re.S):
            if "{#" in heading:
                text = re.sub(r"<[^>]+>", "", heading).strip()
                problems.append(f"{os.path.relpath(path, root)}: heading {text!r} shows its id")
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "build/book"
    po = sys.argv[2] if len(sys.argv) > 2 else "po/id.po"
    links, count, pages = check_links(root)
    translation, stats = check_translation(po)
    failed = False
    for name, problems in ((f"every link, anchor and include of {pages} pages ({count} internal links)", links),
                           ("no heading shows a {#id} as text", check_headings(root)),
                           (f"{po} whole ({stats})", translation)):
        if problems:
            failed = True
            print(f"book-test: FAILED: {name}:")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"book-test: ok: {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
