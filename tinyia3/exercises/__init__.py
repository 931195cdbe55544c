"""Exercises for class: a registry, and checks that explain a wrong answer in a student's words.

Each exercise is a stub, lessons/exercises/NAME.py, whose function has exactly the signature of
the package's own function (the reference), so the same checks run on both:

  (a) the outputs: the reference's types, shapes and dtypes, inputs left unchanged;
  (b) for a gradient, float64 central finite differences at random inputs (a random upstream
      gradient, IA³ scales away from 1, where a forgotten `* l` would still look right):
      relative error below TOLERANCE_F64 (tinyia3.gradcheck);
  (c) agreement with the reference (exact for integer answers); on a disagreement, which known
      mistake the answer is (each a real wrong implementation, run on the same inputs), else
      what the size of the error suggests.

    from tinyia3 import exercises
    report = exercises.check("layer_norm_backward")                  # lessons/exercises/…py
    report = exercises.check("layer_norm_backward", solution=True)   # the package's function
    print(report.text()); report.passed; report.outcome; report.mistake
    print(exercises.hint_text("layer_norm_backward", 2))             # hints come in tiers
    print(exercises.check_all("class/").text())                      # a class summary table

A student's file is loaded and called in a process of its own (tinyia3/student_process.py):
it cannot end the check with exit(), fake the report or patch the reference, and only the values
its function returns are judged. sys.path is never changed.

The package: spec.py (what an exercise is), checker.py (running and judging cases), report.py,
grading.py (one exercise), classroom.py (check --all), files.py (finding a student's file),
registry.py (the list), and the exercises by lesson: tokens (1), forward (2), backward (3),
counts (4, 8), training (5), lens (6), merging (7), lora_backward (9), mixed_batches (10),
data_quality (11).
"""

from ..paths import BUNDLE, EXERCISES_DIR, ROOT  # noqa: F401  (importable from here, as before)
from .backward import l_ff_gradient
from .checker import run_case
from .classroom import check_all, students
from .files import load_function, locate
from .grading import check, check_function
from .registry import EXERCISES, get, hint_text, list_text
from .report import Report, explain_size
from .spec import Case, Exercise, Mistake

__all__ = ["EXERCISES", "Case", "Exercise", "Mistake", "Report", "check", "check_all", "check_function",
           "explain_size", "get", "hint_text", "l_ff_gradient", "list_text", "load_function", "locate",
           "run_case", "students"]
