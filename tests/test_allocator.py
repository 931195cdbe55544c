"""tinyia3 keeps freed memory for reuse (allocator.py): a large array freed and allocated again
must not page-fault again. Each case runs in a fresh process, since the setting is per process."""

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's"
)

# Allocate, touch and free 32 activation-sized arrays of 8 MB (256 MB, as a block's forward and
# backward do) once, then count the page faults of doing it again.
PROBE = """
import resource, numpy as np, tinyia3
def touch():
    arrays = [np.empty(2 * 1024 * 1024, np.float32) for _ in range(32)]
    for a in arrays:
        a.fill(1.0)
    del arrays
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(tinyia3.allocator.KEPT, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(env_value):
    env = {"TINYIA3_KEEP_FREED_MEMORY": env_value, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    kept, faults = out.stdout.split()
    return kept == "True", int(faults)


def test_freed_memory_is_reused_without_page_faults():
    kept, faults = _faults("1")
    assert kept
    assert faults < 100  # without it: ~16,000 here (65,536 4 KB pages, some as 2 MB huge pages)


def test_opt_out_leaves_malloc_alone():
    # The control: with the setting off the same probe faults in every page again, which shows
    # that the probe can tell the two apart.
    kept, faults = _faults("0")
    assert not kept
    assert faults > 10_000
