"""Reading an SQLite write-ahead log (``eventlog.sqlite-wal``) without SQLite: what it would drop.

After a crash the WAL holds transactions that were committed but not yet copied into
the main file. On the next open SQLite replays the WAL frame by frame and *stops at
the first frame whose checksum fails*: every committed transaction after a damaged
frame is silently ignored (and the next checkpoint makes that final). ``hedge verify``
reads the WAL itself with this module, read-only, and reports such a WAL as damage
instead of verifying the shorter log SQLite shows.

Format (https://www.sqlite.org/fileformat.html#the_write_ahead_log): a 32-byte header
(magic, version, page size, checkpoint sequence, salt-1, salt-2, checksum), then frames
of a 24-byte header (page number, database size after commit or 0, salt-1, salt-2,
checksum) and one page. Checksums are cumulative. Frames of an older WAL generation
(left behind after a reset) carry other salts and are not part of the log.
"""

from __future__ import annotations

import os
import struct

import msgspec

MAGIC_LE, MAGIC_BE = 0x377F0682, 0x377F0683
MASK = 0xFFFFFFFF


class WalDamage(msgspec.Struct, frozen=True, kw_only=True):
    frame: int  # 1-based index of the first frame SQLite would reject
    offset: int  # its byte offset in the -wal file
    lost_commits: int  # committed transactions after it that SQLite would drop
    lost_frames: int


def _checksum(data: bytes, s0: int, s1: int, big: bool) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & MASK
        s1 = (s1 + words[i + 1] + s0) & MASK
    return s0, s1


def scan(wal_path: str) -> WalDamage | None:
    """The first damaged frame of a WAL that still has committed frames after it, or None.

    A WAL whose only bad frames are at its end (a write torn by the crash itself) loses
    nothing that was reported committed and is not damage. A damaged WAL header makes
    every frame unreadable: reported as frame 1 when the file holds frames.
    """
    try:
        size = os.path.getsize(wal_path)
    except FileNotFoundError:
        return None
    if size < 32:
        return None
    with open(wal_path, "rb") as f:
        data = f.read()
    magic, _ver, page, _ckpt, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:32])
    frame_len = 24 + page if page else 0
    n_frames = (size - 32) // frame_len if frame_len else 0
    big = magic == MAGIC_BE
    header_ok = magic in (MAGIC_LE, MAGIC_BE) and page >= 512 and page & (page - 1) == 0
    if header_ok:
        s0, s1 = _checksum(data[:24], 0, 0, big)
        header_ok = (s0, s1) == (c1, c2)
    if not header_ok:
        if n_frames == 0 and size > 32:
            n_frames = 1
        return WalDamage(frame=1, offset=0, lost_commits=-1, lost_frames=n_frames) if n_frames else None
    bad: int | None = None
    for i in range(n_frames):
        off = 32 + i * frame_len
        head = data[off:off + 24]
        _pgno, commit, fs1, fs2, fc1, fc2 = struct.unpack(">6I", head)
        if (fs1, fs2) != (salt1, salt2):
            if bad is None:
                return None  # the end of this generation: older frames follow
            continue
        if bad is None:
            t0, t1 = _checksum(head[:8], s0, s1, big)
            t0, t1 = _checksum(data[off + 24:off + frame_len], t0, t1, big)
            if (t0, t1) == (fc1, fc2):
                s0, s1 = t0, t1
                continue
            bad = i
            lost_commits = lost_frames = 0
        lost_frames += 1
        if commit:
            lost_commits += 1
    if bad is None or not lost_commits:
        return None
    return WalDamage(frame=bad + 1, offset=32 + bad * frame_len, lost_commits=lost_commits, lost_frames=lost_frames)
