"""Traffic simulator with ground truth: synthetic NGX customers whose outcomes are known.

``population`` draws the customers and their personas, ``generator`` turns them into
events day by day, ``truth`` writes what was planted, ``runner`` (backfill) and ``live``
send it. Generation never needs a server; see docs/simulator.md.
"""
