"""Section 6, knowledge and grounding: RAG, hallucination, calibration, editing and memory.

Lessons for this section are planned in COURSE_MAP.md; modules land here as they are built.
"""
