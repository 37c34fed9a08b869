"""The allocator setting the training process and the command line make."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mammo_annotator.ml.allocator import keep_freed_memory


def _minor_faults_of_repeated_large_blocks(keep: bool) -> int:
    code = f"""
import resource, numpy as np
from mammo_annotator.ml.allocator import keep_freed_memory
if {keep}:
    assert keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):  # a training step: a few 10-30 MB tensors alive together, then all freed
    blocks = [np.ones(2_500_000) for _ in range(4)]
    del blocks
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    default, kept = _minor_faults_of_repeated_large_blocks(False), _minor_faults_of_repeated_large_blocks(True)
    # 40 steps of 4 x 4,883 pages: by default the freed top of the heap goes back to the
    # kernel and is faulted in again (85,000 faults here); kept, only the first step faults
    assert kept < 4 * 4883 and kept < default / 10


def test_it_is_safe_to_call_again():
    first = keep_freed_memory()
    assert keep_freed_memory() == first
    assert np.ones(1000).sum() == 1000
