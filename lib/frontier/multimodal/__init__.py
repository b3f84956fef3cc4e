"""Section 3, multimodal models: patches, projections and token budgets.

Lessons for this section are planned in COURSE_MAP.md; modules land here as they are built.
"""
