"""A long loop's progress: a bar on a terminal, a plain line every N steps anywhere else.

A bar redraws itself with carriage returns, which only a terminal understands: in a log file, in
CI or behind a pipe it becomes noise or, with tqdm's default there, nothing at all. Off a
terminal, one line every `every` steps (and at the last) says how far the loop is:

    IA³ fine-tuning: step 40/300  loss 4.512  lr 1.0e-02  0.42 s/step
"""

from __future__ import annotations

import sys
import time


def default_every(total: int) -> int:
    """About twenty lines for a long run, and never more often than every 10 steps."""
    return max(10, round(total / 20))


class Progress:
    """Progress of steps start+1 … total: update(step, name=value, …) after each, write(text) between."""

    def __init__(self, start: int, total: int, desc: str, enabled=True, every=None, log=print, stream=None):
        stream = stream if stream is not None else sys.stderr
        self.start, self.total, self.desc, self.log = start, total, desc, log
        self.enabled = enabled
        self.every = every or default_every(total)
        self.bar = None
        if enabled and stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(initial=start, total=total, desc=desc, unit="step", file=stream)
        self.began = time.perf_counter()

    def update(self, step: int, **values) -> None:
        """Step `step` (1-based) is done; values (e.g. loss=4.5) are shown beside it."""
        shown = {k: f"{v:.3f}" if k == "loss" else f"{v:.1e}" for k, v in values.items()}
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
        elif self.enabled and (step % self.every == 0 or step == self.total):
            rate = (time.perf_counter() - self.began) / (step - self.start)
            self.log(f"{self.desc}: step {step}/{self.total}  "
                     + "  ".join(f"{k} {v}" for k, v in shown.items()) + f"  {rate:.2f} s/step")

    def write(self, text: str) -> None:
        """A line of its own, above the bar on a terminal."""
        if self.bar is not None:
            self.bar.write(text)
        else:
            self.log(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
