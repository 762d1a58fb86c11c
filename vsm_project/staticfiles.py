"""The static files storage of ``make run`` and production (``DEBUG`` off).

WhiteNoise's ``CompressedManifestStaticFilesStorage`` (hashed names, gzip and Brotli copies)
compresses every file again on every ``collectstatic``: 24 s on this 2-core machine (44 s of
CPU, most of it Brotli at its highest quality on the API docs' 9 MB of JavaScript), paid by
every ``make run`` start. This storage keeps a file's compressed copies from an earlier run
when each of them unpacks to exactly the file's bytes (unpacking is hundreds of times faster
than Brotli's packing), and compresses the file as before when one is missing, damaged or of
other content. The copies kept get the file's modification time, as WhiteNoise gives them.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable, Iterable, Iterator

from whitenoise.compress import brotli_installed
from whitenoise.storage import CompressedManifestStaticFilesStorage

#: Each copy WhiteNoise writes, with how to unpack it, and what a damaged one raises.
UNPACK: dict[str, Callable[[bytes], bytes]] = {".gz": gzip.decompress}
DAMAGED: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error, gzip.BadGzipFile)
if brotli_installed:
    import brotli

    UNPACK[".br"] = brotli.decompress
    DAMAGED += (brotli.error,)


class CompressedManifestStorage(CompressedManifestStaticFilesStorage):
    def compress_files(self, paths: Iterable[str]) -> Iterator[tuple[str, str]]:
        return super().compress_files([p for p in paths if not self.compressed_already(p)])

    def compressed_already(self, name: str) -> bool:
        """Whether every compressed copy of ``name`` WhiteNoise makes is there and unpacks to
        the file's bytes (then the copies take the file's modification time)."""
        source = self.path(name)
        try:
            with open(source, "rb") as file:
                data = file.read()
            stat = os.stat(source)
            for suffix, unpack in UNPACK.items():
                with open(source + suffix, "rb") as file:
                    if unpack(file.read()) != data:
                        return False
        except DAMAGED:
            return False
        for suffix in UNPACK:
            os.utime(source + suffix, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        return True
