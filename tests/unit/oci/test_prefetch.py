import gzip
import hashlib
import io
import os

import pytest

from banger.oci.prefetch import PrefetchReader


def test_prefetch_yields_every_byte_and_its_hash():
    data = os.urandom(3 * 1024 * 1024 + 17)
    reader = PrefetchReader(gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(data, 1))))
    buffered = io.BufferedReader(reader, 64 * 1024)
    out = b"".join(iter(lambda: buffered.read(100_000), b""))
    reader.close()
    assert out == data
    assert reader.sha.hexdigest() == hashlib.sha256(data).hexdigest() and reader.count == len(data)


def test_decompressor_errors_reach_the_reader_unchanged():
    broken = gzip.compress(b"x" * 100_000)[:-20]  # truncated: no end-of-stream marker
    reader = PrefetchReader(gzip.GzipFile(fileobj=io.BytesIO(broken)))
    with pytest.raises(EOFError):
        while reader.read(65536):
            pass
    reader.close()


def test_close_midway_stops_the_worker():
    reader = PrefetchReader(io.BytesIO(b"y" * (64 * 1024 * 1024)))
    assert reader.read(10) == b"y" * 10
    reader.close()
    assert not reader._thread.is_alive()
