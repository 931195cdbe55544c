"""tinyia3 keeps freed memory for reuse (allocator.py): large arrays freed and allocated again
must not page-fault again. Each case runs in a fresh process, since the setting is per process."""

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)

# Allocate, touch and free N activation-sized arrays of 8 MB (as a block's forward and backward
# do) once, then count the page faults of doing it again.
PROBE = """
import resource, sys, numpy as np, tinyia3
def touch(n):
    arrays = [np.empty(2 * 1024 * 1024, np.float32) for _ in range(n)]
    for a in arrays:
        a.fill(1.0)
    del arrays
n = int(sys.argv[1])
touch(n)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch(n)
print(tinyia3.allocator.KEPT, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(env_value, n_arrays):
    env = {"TINYIA3_KEEP_FREED_MEMORY": env_value, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE, str(n_arrays)], capture_output=True, text=True,
                         env=env, check=True)
    kept, faults = out.stdout.split()
    return kept == "True", int(faults)


def test_freed_memory_is_reused_without_page_faults():
    kept, faults = _faults("1", 32)  # 256 MB
    assert kept
    assert faults < 100  # without it: ~16,000 here (65,536 4 KB pages, some as 2 MB huge pages)


@pytest.mark.slow
def test_more_than_2_gib_is_kept_too():
    # A 4 × 512 step of GPT-2 small frees ~2.3 GB at once: more than any finite trim threshold
    # mallopt accepts, which is why trimming is switched off rather than raised.
    kept, faults = _faults("1", 290)  # 2.3 GB
    assert kept
    assert faults < 2_000  # fresh pages would be ~150,000 faults here; a few hundred come from elsewhere


def test_opt_out_leaves_malloc_alone():
    # The control: with the setting off the same probe faults in every page again, which shows
    # that the probe can tell the two apart.
    kept, faults = _faults("0", 32)
    assert not kept
    assert faults > 10_000
