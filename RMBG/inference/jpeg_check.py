"""A structural check of JPEG data, for the damage Pillow decodes silently.

libjpeg reports "corrupt JPEG data: N extraneous bytes before marker" as a warning that Pillow
swallows, and fills the rest of the picture with grey. Walking the marker segments and the
entropy-coded data (restart markers in order, a real end-of-image marker) finds such files
before they become grey cutouts. Used by :func:`RMBG.inference.image_io.load_image`.
"""

from __future__ import annotations


#: JPEG markers without a length field (TEM, RST0-7, SOI, EOI).
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8), 0xD8, 0xD9})


def _entropy_end(data: bytes, start: int, restart_interval: int) -> tuple[int, str | None]:
    """Where the entropy-coded data of a scan starting at ``start`` ends (the offset of the marker
    that ends it), or the problem found in it (a restart marker out of sequence or not expected)."""
    expected = 0
    position = start
    while True:
        found = data.find(b"\xff", position)
        if found < 0 or found + 1 >= len(data):
            return len(data), "premature end of the file inside the compressed data (no end-of-image marker)"
        following = data[found + 1]
        if following == 0x00:  # a stuffed 0xFF data byte
            position = found + 2
        elif following == 0xFF:  # fill bytes before a marker
            position = found + 1
        elif 0xD0 <= following <= 0xD7:
            if restart_interval == 0:
                return found, f"restart marker RST{following - 0xD0} at byte {found} without a restart interval"
            if following != 0xD0 + expected:
                return found, f"found restart marker RST{following - 0xD0} instead of RST{expected} at byte {found}"
            expected = (expected + 1) % 8
            position = found + 2
        else:
            return found, None


def jpeg_structure_problem(data: bytes) -> str | None:
    """What is wrong with the marker structure of a JPEG stream, or ``None`` when it is sound.

    Walks the segments from SOI to EOI: every segment must start with a marker, fit in the file
    and be followed by the next marker; the compressed data of each scan may hold only stuffed
    bytes and restart markers in sequence. These are the conditions under which libjpeg warns
    ("Corrupt JPEG data: N extraneous bytes before marker", "premature end of data segment")
    and fills the rest of the picture with grey. Data after EOI (camera trailers, MPO images)
    is not examined.
    """
    size = len(data)
    if data[:2] != b"\xff\xd8":
        return "it does not start with the start-of-image marker"
    position, restart_interval = 2, 0
    while True:
        if position >= size:
            return "premature end of the file (no end-of-image marker)"
        if data[position] != 0xFF:
            following = data.find(b"\xff", position)
            extra = (following if following >= 0 else size) - position
            return f"{extra} extraneous bytes before a marker at byte {position}"
        while position < size and data[position] == 0xFF:
            position += 1
        if position >= size:
            return "premature end of the file (no end-of-image marker)"
        marker = data[position]
        position += 1
        if marker == 0xD9:
            return None
        if marker in _STANDALONE_MARKERS or marker == 0x00:
            return f"unexpected marker 0x{marker:02X} at byte {position - 2}"
        if position + 2 > size:
            return "premature end of the file inside a segment header"
        length = int.from_bytes(data[position:position + 2], "big")
        if length < 2 or position + length > size:
            return f"segment 0x{marker:02X} at byte {position - 2} claims {length} bytes, past the end of the file"
        if marker == 0xDD and length >= 4:  # DRI: the restart interval
            restart_interval = int.from_bytes(data[position + 2:position + 4], "big")
        position += length
        if marker == 0xDA:  # SOS: compressed data follows, up to the next real marker
            position, problem = _entropy_end(data, position, restart_interval)
            if problem is not None:
                return problem
