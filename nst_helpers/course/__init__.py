"""The course layer: what a chapter calls around the engine.

``setup()`` starts a learner's session (mode, seeds, device, weights banner),
``plotting`` draws the figures, ``quizzes`` holds the self-check questions and ``checks`` the
exercise checkers. Nothing in the engine imports from here.
"""

from .session import (
    BANNER_LINES,
    COLAB_DIR,
    COURSE_URL,
    CPU_FAST_SIZE,
    MODES,
    CourseConfig,
    choose_mode,
    find_repo,
    quick_mode,
    random_weights_banner,
    seed_everything,
    setup,
    warn_if_figures_hidden,
)

__all__ = [
    "BANNER_LINES",
    "COLAB_DIR",
    "COURSE_URL",
    "CPU_FAST_SIZE",
    "MODES",
    "CourseConfig",
    "choose_mode",
    "find_repo",
    "quick_mode",
    "random_weights_banner",
    "seed_everything",
    "setup",
    "warn_if_figures_hidden",
]
