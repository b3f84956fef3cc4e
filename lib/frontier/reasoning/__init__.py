"""Section 2, reasoning and planning: test-time compute, search, tools and agents.

Lessons for this section are planned in COURSE_MAP.md; modules land here as they are built.
"""
