"""Section 7, societal implications: energy and emissions, regulation, work.

* :mod:`frontier.society.sources`     where every figure comes from (:class:`Source`: primary, secondary, derived)
* :mod:`frontier.society.energy`      energy = hours x power x PUE, emissions = energy x grid intensity; published
                                      runs as data; grid intensities from codecarbon's bundled data; lifetime inference
* :mod:`frontier.society.tracking`    the learner's own run measured offline with codecarbon, with its method
* :mod:`frontier.society.regulation`  EU AI Act tiers, questionnaire, penalties, dates; SR 11-7; EO 14110; Regulation B
* :mod:`frontier.society.work`        Eloundou-style task exposure (E0/E1/E2) and the measured evidence

Regulation is summarised for teaching, with the article and the date it was checked; it is not legal advice.
"""
