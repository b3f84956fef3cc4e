"""Section 8, finance: text-to-SQL, latency budgets, scenarios, deployment sizing.

Lessons for this section are planned in COURSE_MAP.md; modules land here as they are built.
"""
