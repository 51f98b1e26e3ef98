#!/usr/bin/env python3
"""Gives every translated heading of a .po the explicit id of its English
heading, so that a link into a page (`page.md#id`) resolves in every
language: mdbook-xgettext extracts a heading's text without its `{#id}`,
and a translated heading would get an id made from the translated words.

    keep-heading-ids.py SRC_DIR PO_FILE

SRC_DIR: the book's Markdown as mdBook builds it (the generated chapters
included). A heading text used with two different ids is left alone and
named on stderr."""
import os
import re
import sys

HEADING = re.compile(r"^#{1,6} (.*?) \{#([^}]+)\}\s*$")


def heading_ids(src):
    ids = {}
    for top, _, files in os.walk(src):
        for name in files:
            if name.endswith(".md"):
                with open(os.path.join(top, name), encoding="utf-8") as f:
                    for line in f:
                        m = HEADING.match(line)
                        if m:
                            ids.setdefault(m.group(1), set()).add(m.group(2))
    return ids


def po_string(lines):
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', "\n".join(lines)))


def unescape(s):
    return s.replace('\\"', '"').replace("\\\\", "\\")


def escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def main(src, po):
    ids = heading_ids(src)
    with open(po, encoding="utf-8") as f:
        entries = f.read().split("\n\n")
    changed = ambiguous = 0
    out = []
    for entry in entries:
        lines = entry.split("\n")
        try:
            i_id = next(i for i, l in enumerate(lines) if l.startswith("msgid "))
            i_str = next(i for i, l in enumerate(lines) if l.startswith("msgstr "))
        except StopIteration:
            out.append(entry)
            continue
        msgid = unescape(po_string(lines[i_id:i_str]))
        msgstr = unescape(po_string(lines[i_str:]))
        if msgid in ids and msgstr:
            if len(ids[msgid]) == 1:
                (hid,) = ids[msgid]
                # An id a translator added by hand gives way to the source's.
                text = re.sub(r"\s*\{#[^}]*\}\s*$", "", msgstr)
                new = text + " {#" + hid + "}"
                if new != msgstr:
                    lines = lines[:i_str] + [f'msgstr "{escape(new)}"']
                    changed += 1
            else:
                ambiguous += 1
                print(f"keep-heading-ids: {msgid!r} has ids {sorted(ids[msgid])}: left alone", file=sys.stderr)
        out.append("\n".join(lines))
    with open(po, "w", encoding="utf-8") as f:
        f.write("\n\n".join(out))
    print(f"keep-heading-ids: {changed} headings given their English id, {ambiguous} ambiguous")


if __name__ == "__main__":
    main(*sys.argv[1:])
