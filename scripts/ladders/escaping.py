"""Bytes as the servers' log shows them (SPEC "Escaping")."""

# SPEC "Escaping": the invisible characters that hide or reorder text.
INVISIBLE = [(0x00AD, 0x00AD), (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x206F), (0xFEFF, 0xFEFF)]


def utf8_sequence(data, i):
    """The length of the well-formed UTF-8 sequence (shortest form, no
    surrogates) of a code point from U+00A0 up, shown as it is, at data[i];
    0 if the byte there must be escaped."""
    lead = data[i]
    if 0xC2 <= lead <= 0xDF:
        length, low, high = 2, 0x80, 0xBF
    elif 0xE0 <= lead <= 0xEF:
        length = 3
        low, high = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F)}.get(lead, (0x80, 0xBF))
    elif 0xF0 <= lead <= 0xF4:
        length = 4
        low, high = {0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}.get(lead, (0x80, 0xBF))
    else:
        return 0
    if i + length > len(data) or not low <= data[i + 1] <= high:
        return 0
    if any(not 0x80 <= b <= 0xBF for b in data[i + 2:i + length]):
        return 0
    point = ord(data[i:i + length].decode("utf-8"))
    if point < 0xA0 or any(a <= point <= b for a, b in INVISIBLE):
        return 0
    return length


def escape(data):
    """Bytes as the servers' log shows them (SPEC "Escaping")."""
    out = []
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x5C:
            out.append("\\\\")
        elif b in (0x09, 0x0D, 0x0A):
            out.append({0x09: "\\t", 0x0D: "\\r", 0x0A: "\\n"}[b])
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            length = utf8_sequence(data, i)
            if length:
                out.append(data[i:i + length].decode("utf-8"))
                i += length
                continue
            out.append(f"\\x{b:02x}")
        i += 1
    return "".join(out)
