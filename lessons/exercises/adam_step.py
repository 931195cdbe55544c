"""Exercise adam_step (lesson 5: training an adapter). About 15 minutes.

Lesson 5 trains the IA³ vectors with Adam (Kingma & Ba 2015), without weight decay. Write one
step of it, the step number t (1 for the first step), for one vector: update Adam's two running
moments with this step's gradient, correct their bias toward zero (they start at 0), and move
l against the gradient by lr times the corrected first moment over (the square root of the
corrected second moment, plus eps). tinyia3/optim.py's AdamW is the reference.

Inputs
    l      (N,) float   the vector before the step
    grad   (N,) float   ∂loss/∂l at this step
    m, v   (N,) float   Adam's first and second moments after step t − 1 (zeros before step 1)
    t      int          this step's number: 1, 2, ...
    lr, beta1, beta2, eps   floats, Adam's settings (the defaults are the package's)
Returns
    l, m, v   (N,) float   after step t: NEW arrays; the inputs must not change

Check your answer:     tinyia3 check adam_step
Stuck?                 tinyia3 check adam_step --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check adam_step --solution
"""

import numpy as np


def adam_step(l, grad, m, v, t, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8):
    """Step t of Adam on l -> new (l, m, v). See the module docstring."""
    raise NotImplementedError(
        "Exercise adam_step (lesson 5): implement one Adam step — "
        "see the docstring; check with `tinyia3 check adam_step`"
    )
