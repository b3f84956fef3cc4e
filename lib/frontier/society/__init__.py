"""Section 7, societal implications: energy and emissions, regulation, work.

Lessons for this section are planned in COURSE_MAP.md; modules land here as they are built.
"""
