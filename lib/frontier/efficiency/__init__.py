"""Section 5, efficiency and deployment: compute-optimal training, speculative decoding, quantization, merging.

Lessons for this section are planned in COURSE_MAP.md; modules land here as they are built.
"""
