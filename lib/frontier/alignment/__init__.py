"""Section 4, alignment and safety: preference optimisation, oversight, robustness.

Lessons for this section are planned in COURSE_MAP.md; modules land here as they are built.
"""
