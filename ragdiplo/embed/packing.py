"""Texts packed into rows of one fixed width, for a runtime that pays for every new input shape.

OpenVINO prepares its kernels for each input shape it meets: a build that runs
texts at their own widths spends a sixth of its time on that, and padding texts
to a few widths wastes as much on padding tokens. Rows of the model's full
width, each holding as many texts as fit (a token attends only to its own
text: see ``onnx_export``), give one shape for the whole build and almost no
padding: 42 rows of 256 tokens for the seeds' 10,621, 99% full.

Best fit, longest first: each text goes to the row it fills most tightly. The
placement follows from the lengths alone, so a corpus is always packed the same
way; a text's vector does not depend on its row or its neighbours in any case
(tested bit for bit). Texts start at even offsets: bfloat16 dot products
(AVX512-BF16, AMX) sum neighbouring pairs of tokens first, so a text starting at
an odd offset pairs its keys differently in attention and its vector moves in
the fourth decimal; with even starts the bits are the same at every offset.
That was measured on AVX512-BF16 (and float32 is exact at any offset); kernels
of other CPUs could block their sums otherwise, which is why the test suite
checks it, bit for bit, on the machine it runs on.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

ALIGN = 2  # texts start at multiples of this


def pack(lengths: Sequence[int], width: int) -> list[list[tuple[int, int]]]:
    """Rows of ``(text index, start offset)``; every text is in exactly one row,
    starts at an offset divisible by ``ALIGN``, and a row's texts fill at most
    ``width`` tokens. Lengths must lie in ``1..width`` (texts are truncated to
    the model's width before this)."""
    rows: list[list[tuple[int, int]]] = []
    used: list[int] = []
    by_room: dict[int, list[int]] = {}  # rows by the tokens they still have free
    rooms: list[int] = []  # the keys of by_room, sorted
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        n = int(lengths[i])
        if not 1 <= n <= width:
            raise ValueError(f"text {i} has {n} tokens; rows hold 1 to {width}")
        n = min(-(-n // ALIGN) * ALIGN, width)  # the room it takes
        at = bisect.bisect_left(rooms, n)
        if at == len(rooms):
            row = len(rows)
            rows.append([])
            used.append(0)
        else:
            room = rooms[at]
            row = by_room[room].pop()
            if not by_room[room]:
                del by_room[room], rooms[at]
        rows[row].append((i, used[row]))
        used[row] += n
        left = width - used[row]  # a multiple of ALIGN unless the row is full
        if left and left not in by_room:
            bisect.insort(rooms, left)
        if left:
            by_room.setdefault(left, []).append(row)
    return rows
